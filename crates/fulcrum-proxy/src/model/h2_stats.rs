//! HAProxy's `h2` statistics module, kept for each frontend and backend: the HTTP/2 frames received by type, the
//! RST_STREAM and GOAWAY frames sent on errors, the protocol errors found, and the HTTP/2 connections and streams
//! (client ones on a frontend, server ones on a backend). `show stat` prints them as the columns
//! `h2_headers_rcvd` ... `h2_backend_total_streams`. The frames are seen on the bytes the `h2` codec reads and
//! writes (`fulcrum_http::h2frames`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use fulcrum_http::h2frames::{kind, Frame};

use super::conn_gauges::{ConnGauges, Gauged, OpenConn};

/// RFC 9113's PROTOCOL_ERROR code.
const PROTOCOL_ERROR: u32 = 0x1;

/// The `h2` counters of one frontend or backend, in `show stat`'s column order.
#[derive(Debug, Default)]
pub struct H2Counters {
    headers_rcvd: AtomicU64,
    data_rcvd: AtomicU64,
    settings_rcvd: AtomicU64,
    rst_stream_rcvd: AtomicU64,
    goaway_rcvd: AtomicU64,
    /// GOAWAY frames sent with PROTOCOL_ERROR.
    conn_proto_err: AtomicU64,
    /// RST_STREAM frames sent with PROTOCOL_ERROR.
    strm_proto_err: AtomicU64,
    /// RST_STREAM frames sent.
    rst_stream_resp: AtomicU64,
    /// GOAWAY frames sent with an error code.
    goaway_resp: AtomicU64,
    /// HTTP/2 connections and their streams.
    pub conns: ConnGauges,
}

impl Gauged for H2Counters {
    fn gauges(&self) -> &ConnGauges {
        &self.conns
    }
}

impl H2Counters {
    /// A frame came from the peer. One on a stream its type does not allow (DATA, HEADERS or RST_STREAM on
    /// stream 0, SETTINGS or GOAWAY on another) is a connection error, not counted, as in HAProxy.
    pub fn received(&self, frame: Frame) {
        let on_stream = frame.stream != 0;
        let valid = match frame.kind {
            kind::DATA | kind::HEADERS | kind::RST_STREAM => on_stream,
            kind::SETTINGS | kind::GOAWAY => !on_stream,
            _ => true,
        };
        if !valid {
            return;
        }
        let counter = match frame.kind {
            kind::HEADERS => &self.headers_rcvd,
            kind::DATA => &self.data_rcvd,
            kind::SETTINGS => &self.settings_rcvd,
            kind::RST_STREAM => &self.rst_stream_rcvd,
            kind::GOAWAY => &self.goaway_rcvd,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A frame went to the peer.
    pub fn sent(&self, frame: Frame) {
        match frame.kind {
            kind::RST_STREAM => {
                self.rst_stream_resp.fetch_add(1, Relaxed);
                if frame.error == Some(PROTOCOL_ERROR) {
                    self.strm_proto_err.fetch_add(1, Relaxed);
                }
            }
            kind::GOAWAY if frame.error.is_some_and(|e| e != 0) => {
                self.goaway_resp.fetch_add(1, Relaxed);
                if frame.error == Some(PROTOCOL_ERROR) {
                    self.conn_proto_err.fetch_add(1, Relaxed);
                }
            }
            _ => {}
        }
    }

    /// The thirteen values in `show stat`'s column order.
    pub fn values(&self) -> [u64; 13] {
        let frames = [
            &self.headers_rcvd,
            &self.data_rcvd,
            &self.settings_rcvd,
            &self.rst_stream_rcvd,
            &self.goaway_rcvd,
            &self.conn_proto_err,
            &self.strm_proto_err,
            &self.rst_stream_resp,
            &self.goaway_resp,
        ]
        .map(|c| c.load(Relaxed));
        let conns = self.conns.values();
        std::array::from_fn(|i| if i < 9 { frames[i] } else { conns[i - 9] })
    }
}

/// An HTTP/2 connection counted in its frontend's or backend's [`H2Counters`] while held.
pub type H2Conn = OpenConn<H2Counters>;

/// A stream counted open in its frontend's or backend's [`H2Counters`] until dropped.
pub type H2StreamCount = super::conn_gauges::OpenStream<H2Counters>;

/// The two directions of one HTTP/2 connection, watched for its counters.
#[derive(Debug)]
pub struct H2Watch {
    conn: H2Conn,
    read: fulcrum_http::h2frames::FrameWatch,
    written: fulcrum_http::h2frames::FrameWatch,
}

impl H2Watch {
    /// A client connection (`from_client`: what it reads starts with the preface) or a server connection.
    pub fn new(conn: H2Conn, from_client: bool) -> Self {
        H2Watch {
            conn,
            read: fulcrum_http::h2frames::FrameWatch::new(from_client),
            written: fulcrum_http::h2frames::FrameWatch::new(!from_client),
        }
    }

    /// Bytes read from the peer.
    pub fn read(&mut self, bytes: &[u8]) {
        let c = self.conn.counters();
        self.read.feed(bytes, |f| c.received(f));
    }

    /// Bytes written to the peer.
    pub fn written(&mut self, bytes: &[u8]) {
        let c = self.conn.counters();
        self.written.feed(bytes, |f| c.sent(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(kind: u8, error: Option<u32>) -> Frame {
        let on_connection = matches!(kind, kind::SETTINGS | kind::GOAWAY);
        Frame {
            kind,
            flags: 0,
            stream: u32::from(!on_connection),
            error,
        }
    }

    #[test]
    fn frames_and_errors_land_in_their_columns() {
        let c = Arc::new(H2Counters::default());
        let conn = H2Conn::open(&c);
        for k in [kind::HEADERS, kind::DATA, kind::DATA, kind::SETTINGS, 0x8] {
            c.received(frame(k, None));
        }
        c.received(frame(kind::RST_STREAM, Some(8)));
        c.received(frame(kind::GOAWAY, Some(0)));
        c.sent(frame(kind::RST_STREAM, Some(PROTOCOL_ERROR)));
        c.sent(frame(kind::RST_STREAM, Some(8)));
        c.sent(frame(kind::GOAWAY, Some(0)));
        c.sent(frame(kind::GOAWAY, Some(PROTOCOL_ERROR)));
        // Invalid where they are: not counted.
        c.received(Frame {
            stream: 0,
            ..frame(kind::DATA, None)
        });
        c.received(Frame {
            stream: 3,
            ..frame(kind::SETTINGS, None)
        });
        c.conns.stream_started();
        assert_eq!(c.values(), [1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1]);
        c.conns.stream_ended();
        drop(conn);
        assert_eq!(c.values()[9..], [0, 0, 1, 1]);
    }
}
