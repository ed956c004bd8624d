//! Watching an HTTP/2 byte stream frame by frame without decoding it: the type, flags and stream of each frame,
//! and the error code of RST_STREAM and GOAWAY frames. The proxy's statistics count frames with it (HAProxy's
//! `h2` module) on the bytes the HTTP/2 codec reads and writes, which it does not otherwise expose.

/// The client connection preface (RFC 9113 section 3.4), which comes before the first frame from a client.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 section 6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
}

/// One frame seen in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    /// The error code of a RST_STREAM or GOAWAY frame (`None` for other frames, or one too short to carry it).
    pub error: Option<u32>,
}

/// Where the watcher is in the byte stream.
#[derive(Debug, Clone, Copy)]
enum At {
    /// In the client preface, this many bytes of it still to come.
    Preface(usize),
    /// In a frame header, this many bytes of it read.
    Header(usize),
    /// In a frame's payload, this many bytes of it still to come.
    Payload(usize),
}

/// Follows one direction of an HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct FrameWatch {
    at: At,
    header: [u8; 9],
    /// The payload bytes that carry the error code, for the frame in progress.
    code: [u8; 8],
    /// How many payload bytes of the frame in progress have been seen.
    seen: usize,
}

impl FrameWatch {
    /// A watcher of the bytes a client sends (they start with the preface) or of those a server sends.
    pub fn new(from_client: bool) -> Self {
        FrameWatch {
            at: if from_client {
                At::Preface(PREFACE.len())
            } else {
                At::Header(0)
            },
            header: [0; 9],
            code: [0; 8],
            seen: 0,
        }
    }

    /// Follows `bytes`, the next ones of the stream, calling `frame` once per frame when its header and the part of
    /// its payload that carries an error code have been seen.
    pub fn feed(&mut self, mut bytes: &[u8], mut frame: impl FnMut(Frame)) {
        while !bytes.is_empty() {
            match self.at {
                At::Preface(left) => {
                    let n = left.min(bytes.len());
                    bytes = &bytes[n..];
                    self.at = if n == left {
                        At::Header(0)
                    } else {
                        At::Preface(left - n)
                    };
                }
                At::Header(have) => {
                    let n = (9 - have).min(bytes.len());
                    self.header[have..have + n].copy_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if have + n < 9 {
                        self.at = At::Header(have + n);
                        continue;
                    }
                    let len =
                        u32::from_be_bytes([0, self.header[0], self.header[1], self.header[2]])
                            as usize;
                    self.seen = 0;
                    if self.code_len(len) == 0 {
                        frame(self.current(len));
                    }
                    self.at = if len == 0 {
                        At::Header(0)
                    } else {
                        At::Payload(len)
                    };
                }
                At::Payload(left) => {
                    let n = left.min(bytes.len());
                    let len = self.seen + left;
                    let want = self.code_len(len);
                    if self.seen < want {
                        let take = (want - self.seen).min(n);
                        self.code[self.seen..self.seen + take].copy_from_slice(&bytes[..take]);
                        if self.seen + take == want {
                            frame(self.current(len));
                        }
                    }
                    self.seen += n;
                    bytes = &bytes[n..];
                    self.at = if n == left {
                        At::Header(0)
                    } else {
                        At::Payload(left - n)
                    };
                }
            }
        }
    }

    /// How many payload bytes of a frame of `len` bytes are needed before it is reported.
    fn code_len(&self, len: usize) -> usize {
        let needed = match self.header[3] {
            kind::RST_STREAM => 4,
            kind::GOAWAY => 8,
            _ => 0,
        };
        if len < needed {
            0
        } else {
            needed
        }
    }

    fn current(&self, len: usize) -> Frame {
        let kind = self.header[3];
        let at = match kind {
            kind::RST_STREAM if len >= 4 => Some(0),
            kind::GOAWAY if len >= 8 => Some(4),
            _ => None,
        };
        Frame {
            kind,
            flags: self.header[4],
            stream: u32::from_be_bytes([
                self.header[5],
                self.header[6],
                self.header[7],
                self.header[8],
            ]) & 0x7fff_ffff,
            error: at.map(|i| {
                u32::from_be_bytes([
                    self.code[i],
                    self.code[i + 1],
                    self.code[i + 2],
                    self.code[i + 3],
                ])
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.push(kind);
        v.push(flags);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn all(from_client: bool, stream: &[u8], piece: usize) -> Vec<Frame> {
        let mut w = FrameWatch::new(from_client);
        let mut out = Vec::new();
        for chunk in stream.chunks(piece) {
            w.feed(chunk, |f| out.push(f));
        }
        out
    }

    #[test]
    fn frames_are_seen_whatever_the_pieces() {
        let mut s = PREFACE.to_vec();
        s.extend(frame_bytes(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
        s.extend(frame_bytes(kind::SETTINGS, 1, 0, &[]));
        s.extend(frame_bytes(kind::HEADERS, 5, 1, &[0x82, 0x86, 0x84]));
        s.extend(frame_bytes(kind::DATA, 1, 3, &[7; 100]));
        s.extend(frame_bytes(kind::RST_STREAM, 0, 5, &[0, 0, 0, 8]));
        s.extend(frame_bytes(
            kind::GOAWAY,
            0,
            0,
            &[0, 0, 0, 5, 0, 0, 0, 1, b'x'],
        ));
        let expected = vec![
            Frame {
                kind: kind::SETTINGS,
                flags: 0,
                stream: 0,
                error: None,
            },
            Frame {
                kind: kind::SETTINGS,
                flags: 1,
                stream: 0,
                error: None,
            },
            Frame {
                kind: kind::HEADERS,
                flags: 5,
                stream: 1,
                error: None,
            },
            Frame {
                kind: kind::DATA,
                flags: 1,
                stream: 3,
                error: None,
            },
            Frame {
                kind: kind::RST_STREAM,
                flags: 0,
                stream: 5,
                error: Some(8),
            },
            Frame {
                kind: kind::GOAWAY,
                flags: 0,
                stream: 0,
                error: Some(1),
            },
        ];
        for piece in [1, 2, 3, 7, 9, 10, 64, s.len()] {
            assert_eq!(all(true, &s, piece), expected, "in pieces of {piece}");
        }
        // From a server: no preface.
        let server = frame_bytes(kind::HEADERS, 4, 1, &[0x88]);
        assert_eq!(all(false, &server, 1).len(), 1);
    }

    #[test]
    fn a_short_error_frame_is_reported_without_a_code() {
        let s = frame_bytes(kind::RST_STREAM, 0, 1, &[0, 1]);
        assert_eq!(
            all(false, &s, 1),
            vec![Frame {
                kind: kind::RST_STREAM,
                flags: 0,
                stream: 1,
                error: None
            }]
        );
    }
}
