//! Choosing a server: the backend's configuration mapped onto `fulcrum-balance`, and the request key the
//! hashing algorithms read. The farm is rebuilt off the hot path; picking only reads it.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use http::Request;

use fulcrum_balance::{Algorithm, HashFunction, HashMethod, HashType, ServerSlot, UriOptions};
use fulcrum_config::haproxy::{Balance, HashType as CfgHashType};

pub use fulcrum_balance::Selector;

use crate::snapshot::BackendRt;

/// What a request offers to the hashing algorithms, copied out of the request only when the backend's
/// algorithm needs it (round robin and leastconn copy nothing).
#[derive(Debug, Clone, Default)]
pub struct RequestKey {
    ip: Option<IpAddr>,
    uri: Option<Vec<u8>>,
    param: Option<Vec<u8>>,
    header: Option<Vec<u8>>,
}

impl RequestKey {
    /// A key holding only the client address (tcp mode, `balance source`).
    pub fn from_ip(ip: IpAddr) -> Self {
        RequestKey {
            ip: Some(ip),
            ..Default::default()
        }
    }

    /// The key of an HTTP request for backend `be`.
    pub fn for_request<B>(be: &BackendRt, ip: IpAddr, req: &Request<B>) -> Self {
        let mut key = RequestKey::from_ip(ip);
        match &be.balance {
            Balance::Uri { .. } => {
                key.uri = Some(
                    req.uri()
                        .path_and_query()
                        .map_or(b"/".to_vec(), |p| p.as_str().as_bytes().to_vec()),
                );
            }
            Balance::UrlParam(name) => {
                let target = req
                    .uri()
                    .path_and_query()
                    .map_or("", |p| p.as_str())
                    .as_bytes();
                key.param =
                    fulcrum_balance::query_param_value(target, name.as_bytes()).map(<[u8]>::to_vec);
            }
            Balance::Hdr(name) => {
                key.header = req
                    .headers()
                    .get(name.as_str())
                    .map(|v| v.as_bytes().to_vec());
            }
            _ => {}
        }
        key
    }

    fn borrow(&self) -> fulcrum_balance::RequestKey<'_> {
        fulcrum_balance::RequestKey {
            client_ip: self.ip,
            uri: self.uri.as_deref(),
            param: self.param.as_deref(),
            header: self.header.as_deref(),
        }
    }
}

/// The selection table of one backend.
pub struct Farm(Option<fulcrum_balance::Farm>);

fn algorithm(b: &Balance) -> Algorithm {
    match b {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::StaticRr => Algorithm::StaticRr,
        Balance::LeastConn => Algorithm::LeastConn,
        Balance::First => Algorithm::First,
        Balance::Source => Algorithm::Source,
        Balance::Uri { len, depth, whole } => Algorithm::Uri(UriOptions {
            len: *len,
            depth: *depth,
            whole: *whole,
        }),
        Balance::UrlParam(n) => Algorithm::UrlParam(n.clone()),
        Balance::Hdr(n) => Algorithm::Hdr(n.clone()),
        Balance::Random(n) => Algorithm::Random(*n),
    }
}

fn hash_type(h: CfgHashType) -> HashType {
    HashType {
        method: match h {
            CfgHashType::MapBased => HashMethod::MapBased,
            CfgHashType::Consistent => HashMethod::Consistent,
        },
        function: HashFunction::default(),
        avalanche: false,
    }
}

impl Farm {
    /// A farm with no server in use (every pick answers none).
    pub fn empty() -> Self {
        Farm(None)
    }

    /// The farm for the servers' current state.
    pub fn build(be: &BackendRt) -> Self {
        let slots: Vec<ServerSlot> = be
            .servers
            .iter()
            .map(|s| {
                ServerSlot::new(s.config.weight)
                    .backup(s.config.backup)
                    .usable(s.is_up())
                    .maxconn(s.config.maxconn.filter(|&m| m > 0))
            })
            .collect();
        match fulcrum_balance::Farm::new(
            &slots,
            be.allbackups,
            algorithm(&be.balance),
            hash_type(be.hash_type),
        ) {
            Ok(f) => Farm(Some(f)),
            Err(e) => {
                tracing::error!(backend = %be.name, error = %e, "cannot build the balancing table");
                Farm(None)
            }
        }
    }

    /// Picks a server index of `be`, preferring another one than `avoid` when possible.
    pub fn pick(
        &self,
        selector: &mut Selector,
        be: &BackendRt,
        key: &RequestKey,
        avoid: Option<usize>,
        rng: u64,
    ) -> Option<usize> {
        let farm = self.0.as_ref()?;
        let load = |i: usize| {
            be.servers
                .get(i)
                .map_or(0, |s| s.cur.load(Ordering::Relaxed))
        };
        let key = key.borrow();
        match avoid {
            Some(a) => selector.pick_avoiding(farm, &key, load, rng, a),
            None => selector.pick(farm, &key, load, rng),
        }
    }
}
