//! HAProxy's `h1` statistics module, kept for each frontend and backend: the HTTP/1 connections (client ones on a
//! frontend, server ones on a backend), the requests they carried ("streams"), their bytes, and the bytes of them
//! that went through a pipe (splice(2)) without entering the proxy. `show stat` prints them as the columns
//! `h1_open_connections` ... `h1_spliced_bytes_out`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::conn_gauges::{ConnGauges, Gauged};

/// The `h1` counters of one frontend or backend.
#[derive(Debug, Default)]
pub struct H1Counters {
    /// HTTP/1 connections, and the requests they carried ("streams").
    pub conns: ConnGauges,
    /// Bytes received on those connections (spliced ones included).
    bytes_in: AtomicU64,
    /// Bytes sent on them (spliced ones included).
    bytes_out: AtomicU64,
    /// Bytes received and passed on through a pipe.
    spliced_in: AtomicU64,
    /// Bytes sent from a pipe.
    spliced_out: AtomicU64,
}

impl Gauged for H1Counters {
    fn gauges(&self) -> &ConnGauges {
        &self.conns
    }
}

impl H1Counters {
    /// `n` bytes received.
    #[inline]
    pub fn received(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    /// `n` bytes sent.
    #[inline]
    pub fn sent(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    /// `n` bytes received into a pipe.
    pub fn spliced_in(&self, n: usize) {
        self.received(n);
        self.spliced_in.fetch_add(n as u64, Relaxed);
    }

    /// `n` bytes sent from a pipe.
    pub fn spliced_out(&self, n: usize) {
        self.sent(n);
        self.spliced_out.fetch_add(n as u64, Relaxed);
    }

    /// The eight values in `show stat`'s column order.
    pub fn values(&self) -> [u64; 8] {
        let [a, b, c, d] = self.conns.values();
        let [e, f, g, h] = [
            &self.bytes_in,
            &self.bytes_out,
            &self.spliced_in,
            &self.spliced_out,
        ]
        .map(|c| c.load(Relaxed));
        [a, b, c, d, e, f, g, h]
    }
}

/// One server connection's place in its backend's counters: counted open from [`H1Link::open`] until dropped,
/// and carrying a request between [`H1Link::stream_started`] and [`H1Link::stream_ended`].
#[derive(Debug, Default)]
pub struct H1Link {
    counters: Option<Arc<H1Counters>>,
    streaming: bool,
}

impl H1Link {
    /// A connection counted in `counters` from now on.
    pub fn open(counters: &Arc<H1Counters>) -> Self {
        counters.conns.opened();
        H1Link {
            counters: Some(counters.clone()),
            streaming: false,
        }
    }

    /// The counters, when the connection is counted.
    #[inline]
    pub fn counters(&self) -> Option<&H1Counters> {
        self.counters.as_deref()
    }

    /// A request goes out on the connection.
    pub fn stream_started(&mut self) {
        if let Some(c) = &self.counters {
            if self.streaming {
                c.conns.stream_continued();
            } else {
                c.conns.stream_started();
            }
        }
        self.streaming = true;
    }

    /// The connection's request is over (its response was read whole).
    pub fn stream_ended(&mut self) {
        if let (Some(c), true) = (&self.counters, self.streaming) {
            c.conns.stream_ended();
        }
        self.streaming = false;
    }
}

impl Drop for H1Link {
    fn drop(&mut self) {
        self.stream_ended();
        if let Some(c) = &self.counters {
            c.conns.closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_counts_its_connection_and_requests_until_dropped() {
        let c = Arc::new(H1Counters::default());
        let mut link = H1Link::open(&c);
        link.stream_started();
        link.stream_started();
        assert_eq!(c.values()[..4], [1, 1, 1, 2]);
        link.stream_ended();
        link.stream_started();
        assert_eq!(c.values()[..4], [1, 1, 1, 3]);
        drop(link);
        assert_eq!(c.values()[..4], [0, 0, 1, 3]);
    }

    #[test]
    fn spliced_bytes_count_in_the_totals_too() {
        let c = H1Counters::default();
        c.received(10);
        c.spliced_in(100);
        c.sent(5);
        c.spliced_out(50);
        assert_eq!(c.values()[4..], [110, 55, 100, 50]);
    }
}
