//! HAProxy's `ssl` statistics module, kept for each frontend, backend and server: TLS handshakes completed in
//! full, resumed (a ticket or the session cache), and failed. A frontend counts those with its clients; a server
//! and its backend count those the proxy made with the server, health checks included. `show stat` prints them
//! as the columns `ssl_sess`, `ssl_reused_sess` and `ssl_failed_handshake`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The `ssl` counters of one frontend, backend or server, in `show stat`'s column order.
#[derive(Debug, Default)]
pub struct SslCounters {
    /// Handshakes completed in full.
    sess: AtomicU64,
    /// Handshakes that resumed an earlier session.
    reused_sess: AtomicU64,
    /// Handshakes that failed or timed out.
    failed_handshake: AtomicU64,
}

impl SslCounters {
    /// A handshake completed, `resumed` or in full.
    pub fn completed(&self, resumed: bool) {
        let counter = if resumed {
            &self.reused_sess
        } else {
            &self.sess
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A handshake failed or timed out.
    pub fn failed(&self) {
        self.failed_handshake.fetch_add(1, Relaxed);
    }

    /// The three values in `show stat`'s column order.
    pub fn values(&self) -> [u64; 3] {
        [&self.sess, &self.reused_sess, &self.failed_handshake].map(|c| c.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_resumed_and_failed_handshakes_land_in_their_columns() {
        let c = SslCounters::default();
        c.completed(false);
        c.completed(false);
        c.completed(true);
        c.failed();
        assert_eq!(c.values(), [2, 1, 1]);
    }
}
