//! Decoding of the chunked transfer coding (RFC 9112 section 7.1) from a growing buffer. Chunk data is handed
//! out as shared slices of the buffer, never copied. Trailer fields are kept, to be forwarded as HAProxy does.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// The most trailer bytes accepted in total.
const MAX_TRAILERS: usize = 16 * 1024;

/// What the decoder produced from the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no complete piece: read more.
    NeedMore,
    /// The last chunk and the trailers have been read; the buffer now starts after the body.
    End,
}

/// Why a chunked body is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    /// The chunk-size line is not a hexadecimal size.
    #[error("invalid chunk size line")]
    Size,
    /// Chunk data is not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    Delimiter,
    /// A size line or the trailers are too long.
    #[error("chunk size line or trailers too long")]
    TooLong,
    /// A trailer line is not a header field.
    #[error("invalid trailer field")]
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// A chunked body decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// The trailer section (boxed: most bodies have none, and the decoder sits in every body being relayed).
    trailers: Option<Box<Trailers>>,
}

/// A chunked body's trailer section.
#[derive(Debug)]
enum Trailers {
    /// Its lines as read so far.
    Raw(Vec<u8>),
    /// Its fields, once the body ended.
    Fields(HeaderMap),
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size,
            trailers: None,
        }
    }
}

/// The trailer section's fields (`raw` ends before the empty line), in order.
fn parse_trailers(raw: &[u8]) -> Result<HeaderMap, ChunkError> {
    let mut block = Vec::with_capacity(raw.len() + 2);
    block.extend_from_slice(raw);
    block.extend_from_slice(b"\r\n");
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let parsed = match httparse::parse_headers(&block, &mut fields) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        _ => return Err(ChunkError::Trailer),
    };
    let mut map = HeaderMap::with_capacity(parsed.len());
    for f in parsed {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| ChunkError::Trailer)?;
        let value = HeaderValue::from_bytes(f.value).map_err(|_| ChunkError::Trailer)?;
        map.append(name, value);
    }
    Ok(map)
}

impl Decoder {
    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The trailer fields that followed the last chunk, once the body ended (`None` when there were none).
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        match *self.trailers.take()? {
            Trailers::Fields(f) => Some(f),
            Trailers::Raw(_) => None,
        }
    }

    /// Decodes as much as `buf` allows, removing what it consumed. `max` caps the size of one data piece.
    pub fn decode(&mut self, buf: &mut BytesMut, max: usize) -> Result<Decoded, ChunkError> {
        loop {
            match self.state {
                State::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        let _ = buf.split_to(used);
                        self.state = if size == 0 {
                            State::Trailers(0)
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                        return Err(ChunkError::TooLong)
                    }
                    Ok(httparse::Status::Partial) => return Ok(Decoded::NeedMore),
                    Err(_) => return Err(ChunkError::Size),
                },
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = buf
                        .len()
                        .min(max)
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                State::DataEnd => {
                    if buf.starts_with(b"\r\n") {
                        let _ = buf.split_to(2);
                    } else if buf.is_empty() || &buf[..] == b"\r" {
                        return Ok(Decoded::NeedMore);
                    } else {
                        return Err(ChunkError::Delimiter);
                    }
                    self.state = State::Size;
                }
                State::Trailers(seen) => {
                    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                        if buf.len() > MAX_LINE || seen + buf.len() > MAX_TRAILERS {
                            return Err(ChunkError::TooLong);
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    let line = buf.split_to(nl + 1);
                    let seen = seen + line.len();
                    if seen > MAX_TRAILERS {
                        return Err(ChunkError::TooLong);
                    }
                    self.state = if line.len() <= 2 && (line[0] == b'\n' || &line[..] == b"\r\n") {
                        if let Some(t) = &mut self.trailers {
                            if let Trailers::Raw(raw) = &**t {
                                **t = Trailers::Fields(parse_trailers(raw)?);
                            }
                        }
                        State::Done
                    } else {
                        match self
                            .trailers
                            .get_or_insert_with(|| Box::new(Trailers::Raw(Vec::new())))
                            .as_mut()
                        {
                            Trailers::Raw(raw) => raw.extend_from_slice(&line),
                            Trailers::Fields(_) => {}
                        }
                        State::Trailers(seen)
                    };
                }
                State::Done => return Ok(Decoded::End),
            }
        }
    }
}

/// Encodes trailer fields as the lines of a chunked body's trailer section (each `name: value\r\n`; the caller
/// writes the last chunk before them and the empty line after).
pub fn encode_trailers(trailers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in trailers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, BytesMut), ChunkError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match d.decode(&mut buf, 3)? {
                Decoded::Data(b) => out.extend_from_slice(&b),
                Decoded::End => return Ok((out, buf)),
                Decoded::NeedMore => {
                    if fed >= input.len() {
                        return Err(ChunkError::Delimiter);
                    }
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_in_any_split() {
        let input = b"5\r\nhello\r\na;ext=1\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (out, rest) = decode_all(input, step).unwrap();
            assert_eq!(out, b"hello, world!!!", "step {step}");
            assert!(b"NEXT".starts_with(&rest[..]), "step {step}");
        }
    }

    #[test]
    fn trailers_are_kept_in_order_in_any_split() {
        let input = b"5\r\nhello\r\n0\r\nX-T: 1\r\ngrpc-status: 0\r\nx-t: 2\r\n\r\nNEXT";
        for step in 1..input.len() {
            let mut d = Decoder::default();
            let mut buf = BytesMut::new();
            let mut fed = 0;
            loop {
                match d.decode(&mut buf, 3).unwrap() {
                    Decoded::End => break,
                    Decoded::Data(_) => {}
                    Decoded::NeedMore => {
                        let end = (fed + step).min(input.len());
                        buf.extend_from_slice(&input[fed..end]);
                        fed = end;
                    }
                }
            }
            let t = d.take_trailers().expect("trailers");
            let x: Vec<_> = t
                .get_all("x-t")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(x, ["1", "2"], "step {step}");
            assert_eq!(t["grpc-status"], "0");
            assert!(d.take_trailers().is_none());
        }
        // None without trailers.
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(&b"0\r\n\r\n"[..]);
        assert_eq!(d.decode(&mut buf, 10).unwrap(), Decoded::End);
        assert!(d.take_trailers().is_none());
    }

    #[test]
    fn a_trailer_line_that_is_no_field_is_refused() {
        assert_eq!(
            decode_all(b"0\r\nno colon here\r\n\r\n", 100).unwrap_err(),
            ChunkError::Trailer
        );
        assert_eq!(
            decode_all(b"0\r\nbad name: 1\r\n\r\n", 100).unwrap_err(),
            ChunkError::Trailer
        );
    }

    #[test]
    fn bare_lf_delimiters_are_refused() {
        assert_eq!(
            decode_all(b"3\nabc\r\n", 100).unwrap_err(),
            ChunkError::Size
        );
        assert_eq!(
            decode_all(b"3\r\nabc\n0\r\n\r\n", 100).unwrap_err(),
            ChunkError::Delimiter
        );
    }

    #[test]
    fn invalid_bodies_are_errors() {
        assert_eq!(decode_all(b"zz\r\n", 100).unwrap_err(), ChunkError::Size);
        assert_eq!(
            decode_all(b"3\r\nabcX\r\n", 100).unwrap_err(),
            ChunkError::Delimiter
        );
        let long = vec![b'a'; MAX_LINE + 10];
        let mut input = b"0\r\nX: ".to_vec();
        input.extend_from_slice(&long);
        assert_eq!(decode_all(&input, 100).unwrap_err(), ChunkError::TooLong);
        assert_eq!(
            decode_all(b"ffffffffffffffffff\r\n", 100).unwrap_err(),
            ChunkError::Size
        );
    }
}
