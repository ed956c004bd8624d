//! The four connection and stream figures that HAProxy's `h1` and `h2` statistics modules both show (open now and
//! in all, for connections and for the requests or streams they carry), and the guards that keep a connection or a
//! stream counted open while it lasts.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Connections and streams of one protocol on one frontend or backend.
#[derive(Debug, Default)]
pub struct ConnGauges {
    open_conns: AtomicU64,
    open_streams: AtomicU64,
    total_conns: AtomicU64,
    total_streams: AtomicU64,
}

impl ConnGauges {
    /// A connection opened; counted open until [`ConnGauges::closed`].
    pub fn opened(&self) {
        self.open_conns.fetch_add(1, Relaxed);
        self.total_conns.fetch_add(1, Relaxed);
    }

    /// A connection counted by [`ConnGauges::opened`] closed (or stopped speaking the protocol).
    pub fn closed(&self) {
        dec(&self.open_conns);
    }

    /// A stream (a request) started; counted open until [`ConnGauges::stream_ended`].
    pub fn stream_started(&self) {
        self.open_streams.fetch_add(1, Relaxed);
        self.total_streams.fetch_add(1, Relaxed);
    }

    /// A stream counted in all, while the one before it on the same connection still counts as open.
    pub fn stream_continued(&self) {
        self.total_streams.fetch_add(1, Relaxed);
    }

    /// A stream counted by [`ConnGauges::stream_started`] ended.
    pub fn stream_ended(&self) {
        dec(&self.open_streams);
    }

    /// Open connections, open streams, connections in all, streams in all: the order of both modules' columns.
    pub fn values(&self) -> [u64; 4] {
        [
            &self.open_conns,
            &self.open_streams,
            &self.total_conns,
            &self.total_streams,
        ]
        .map(|c| c.load(Relaxed))
    }
}

/// Takes one from a gauge, never below zero.
fn dec(gauge: &AtomicU64) {
    let _ = gauge.fetch_update(Relaxed, Relaxed, |v| v.checked_sub(1));
}

/// A statistics module that holds [`ConnGauges`].
pub trait Gauged {
    /// Its connection and stream gauges.
    fn gauges(&self) -> &ConnGauges;
}

/// A connection counted open in `T`'s gauges until dropped.
#[derive(Debug)]
pub struct OpenConn<T: Gauged>(Arc<T>);

impl<T: Gauged> OpenConn<T> {
    /// A connection counted open from now on.
    pub fn open(counters: &Arc<T>) -> Self {
        counters.gauges().opened();
        OpenConn(counters.clone())
    }

    /// The counters it is counted in.
    pub fn counters(&self) -> &T {
        &self.0
    }
}

impl<T: Gauged> Drop for OpenConn<T> {
    fn drop(&mut self) {
        self.0.gauges().closed();
    }
}

/// A stream counted open in `T`'s gauges until dropped.
#[derive(Debug)]
pub struct OpenStream<T: Gauged>(Arc<T>);

impl<T: Gauged> OpenStream<T> {
    /// A stream started now.
    pub fn start(counters: &Arc<T>) -> Self {
        counters.gauges().stream_started();
        OpenStream(counters.clone())
    }
}

impl<T: Gauged> Drop for OpenStream<T> {
    fn drop(&mut self) {
        self.0.gauges().stream_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Gauged for ConnGauges {
        fn gauges(&self) -> &ConnGauges {
            self
        }
    }

    #[test]
    fn guards_count_while_held_and_gauges_never_go_below_zero() {
        let g = Arc::new(ConnGauges::default());
        let conn = OpenConn::open(&g);
        let s1 = OpenStream::start(&g);
        g.stream_continued();
        assert_eq!(g.values(), [1, 1, 1, 2]);
        drop(s1);
        drop(conn);
        assert_eq!(g.values(), [0, 0, 1, 2]);
        g.closed();
        g.stream_ended();
        assert_eq!(g.values(), [0, 0, 1, 2]);
    }
}
