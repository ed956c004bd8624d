//! The whole process's traffic figures that `show info` prints as HAProxy does: connections and requests in all
//! (`CumConns`, `CumReq`), and per second with their most (`ConnRate`, `SessRate`, `SslRate`, TLS keys computed
//! for clients and for servers). Shared by the frontends, the backends (health checks' handshakes) and the
//! runtime API, whose own connections HAProxy counts in the totals (not in the rates).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::model::counters::{coarse_ms, SecondRate};

/// The process's counters of one configuration's life.
#[derive(Default)]
pub struct ProcessStats {
    /// Connections accepted: on the frontends and the runtime API (`CumConns`).
    conns: AtomicU64,
    /// Streams: HTTP requests, `mode tcp` sessions and runtime API connections (`CumReq`).
    reqs: AtomicU64,
    /// Connections accepted per second (`ConnRate`).
    conn_rate: SecondRate,
    /// Sessions per second: connections the `tcp-request connection` rules kept (`SessRate`).
    sess_rate: SecondRate,
    /// Connections accepted on `ssl` listeners per second (`SslRate`).
    ssl_rate: SecondRate,
    /// Full TLS handshakes with clients per second (`SslFrontendKeyRate`).
    fe_keys: SecondRate,
    /// Full TLS handshakes with servers per second (`SslBackendKeyRate`).
    be_keys: SecondRate,
}

/// What `show info` reads of [`ProcessStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessFigures {
    pub cum_conns: u64,
    pub cum_req: u64,
    /// `ConnRate`, `MaxConnRate`
    pub conn_rate: (u64, u64),
    /// `SessRate`, `MaxSessRate`
    pub sess_rate: (u64, u64),
    /// `SslRate`, `MaxSslRate`
    pub ssl_rate: (u64, u64),
    /// `SslFrontendKeyRate`, `SslFrontendMaxKeyRate`
    pub fe_keys: (u64, u64),
    /// `SslBackendKeyRate`, `SslBackendMaxKeyRate`
    pub be_keys: (u64, u64),
}

impl ProcessFigures {
    /// `SslFrontendSessionReuse_pct`: the share of this second's `ssl` connections that did not compute keys,
    /// rounded down, as HAProxy gives it (0 with no such connection).
    pub fn ssl_reuse_pct(&self) -> u64 {
        let (sess, keys) = (self.ssl_rate.0, self.fe_keys.0);
        if keys < sess {
            100 - (100 * keys).div_ceil(sess)
        } else {
            0
        }
    }
}

impl ProcessStats {
    /// A connection accepted by a frontend (`tls`: on an `ssl` listener).
    pub fn accepted(&self, tls: bool) {
        let now = coarse_ms();
        self.conns.fetch_add(1, Relaxed);
        self.conn_rate.hit(now);
        if tls {
            self.ssl_rate.hit(now);
        }
    }

    /// A connection the `tcp-request connection` rules kept: a session.
    pub fn session(&self) {
        self.sess_rate.hit(coarse_ms());
    }

    /// A stream: an HTTP request, or a `mode tcp` session.
    pub fn stream(&self) {
        self.reqs.fetch_add(1, Relaxed);
    }

    /// A runtime API connection: HAProxy counts it in `CumConns` and `CumReq`, not in the rates.
    pub fn runtime_api_connection(&self) {
        self.conns.fetch_add(1, Relaxed);
        self.stream();
    }

    /// A TLS handshake with a client completed, `resumed` or with keys computed.
    pub fn client_handshake(&self, resumed: bool) {
        if !resumed {
            self.fe_keys.hit(coarse_ms());
        }
    }

    /// A TLS handshake with a server completed, `resumed` or with keys computed.
    pub fn server_handshake(&self, resumed: bool) {
        if !resumed {
            self.be_keys.hit(coarse_ms());
        }
    }

    /// The figures now.
    pub fn figures(&self) -> ProcessFigures {
        let now = coarse_ms();
        let rate = |r: &SecondRate| (r.read(now), r.max());
        ProcessFigures {
            cum_conns: self.conns.load(Relaxed),
            cum_req: self.reqs.load(Relaxed),
            conn_rate: rate(&self.conn_rate),
            sess_rate: rate(&self.sess_rate),
            ssl_rate: rate(&self.ssl_rate),
            fe_keys: rate(&self.fe_keys),
            be_keys: rate(&self.be_keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_is_the_share_of_ssl_connections_without_keys() {
        let f = |ssl: u64, keys: u64| ProcessFigures {
            ssl_rate: (ssl, ssl),
            fe_keys: (keys, keys),
            ..ProcessFigures::default()
        };
        assert_eq!(f(0, 0).ssl_reuse_pct(), 0);
        assert_eq!(f(3, 3).ssl_reuse_pct(), 0);
        assert_eq!(f(1, 0).ssl_reuse_pct(), 100);
        assert_eq!(f(4, 1).ssl_reuse_pct(), 75);
        assert_eq!(f(3, 1).ssl_reuse_pct(), 66);
    }

    #[test]
    fn the_runtime_api_counts_as_a_connection_and_a_stream_outside_the_rates() {
        let p = ProcessStats::default();
        p.accepted(true);
        p.session();
        p.stream();
        p.stream();
        p.runtime_api_connection();
        p.client_handshake(false);
        p.client_handshake(true);
        p.server_handshake(false);
        let f = p.figures();
        assert_eq!((f.cum_conns, f.cum_req), (2, 3));
        assert_eq!((f.conn_rate.1, f.sess_rate.1, f.ssl_rate.1), (1, 1, 1));
        assert_eq!((f.fe_keys.1, f.be_keys.1), (1, 1));
    }
}
