//! Choosing a server: the backend's configuration mapped onto `fulcrum-balance`, and the request key the
//! hashing algorithms read. The farm is rebuilt off the hot path; picking only reads it.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::Request;

use fulcrum_balance::{Algorithm, HashFunction, HashMethod, HashType, ServerSlot, UriOptions};
use fulcrum_config::haproxy::{
    Balance, HashFunction as CfgHashFunction, HashOptions, HashType as CfgHashType,
};

pub use fulcrum_balance::Selector;

use crate::model::ramp::{ramp_scale, ramp_weight};
use crate::model::server_list::ServerList;

/// What a request offers to the hashing algorithms, copied out of the request only when the backend's
/// algorithm needs it (round robin and leastconn copy nothing).
#[derive(Debug, Clone, Default)]
pub struct RequestKey {
    ip: Option<IpAddr>,
    uri: Option<Vec<u8>>,
    param: Option<Vec<u8>>,
    header: Option<Vec<u8>>,
    sample: Option<Vec<u8>>,
}

impl RequestKey {
    /// A key holding only the client address (tcp mode, `balance source`).
    pub fn from_ip(ip: IpAddr) -> Self {
        RequestKey {
            ip: Some(ip),
            ..Default::default()
        }
    }

    /// The key of an HTTP request for a backend balancing with `balance`.
    pub fn for_request<B>(balance: &Balance, ip: IpAddr, req: &Request<B>) -> Self {
        let mut key = RequestKey::from_ip(ip);
        match balance {
            Balance::Uri { path_only, .. } => {
                let u = req.uri();
                let path = u.path_and_query().map_or("/", |p| p.as_str());
                let mut bytes = Vec::new();
                // A request in absolute form hashes its scheme and authority too, unless `path-only`.
                if let (false, Some(scheme), Some(auth)) = (*path_only, u.scheme(), u.authority()) {
                    bytes.extend_from_slice(scheme.as_str().as_bytes());
                    bytes.extend_from_slice(b"://");
                    bytes.extend_from_slice(auth.as_str().as_bytes());
                }
                bytes.extend_from_slice(path.as_bytes());
                key.uri = Some(bytes);
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

    /// Sets the value `balance hash EXPR` hashes (evaluated by the caller, which holds the stream's variables).
    pub fn with_sample(mut self, sample: Option<Vec<u8>>) -> Self {
        self.sample = sample;
        self
    }

    fn borrow(&self) -> fulcrum_balance::RequestKey<'_> {
        fulcrum_balance::RequestKey {
            client_ip: self.ip,
            uri: self.uri.as_deref(),
            param: self.param.as_deref(),
            header: self.header.as_deref(),
            sample: self.sample.as_deref(),
        }
    }
}

/// The selection table of one backend.
pub struct Farm(Option<fulcrum_balance::Farm>);

/// What a farm is built from: a backend's servers and balancing settings.
pub struct FarmSpec<'a> {
    /// The backend's name (for errors).
    pub name: &'a str,
    /// Its servers, deleted ones included.
    pub servers: &'a ServerList,
    /// `balance`
    pub balance: &'a Balance,
    /// `hash-type`
    pub hash_type: CfgHashType,
    /// `hash-type`'s function and `avalanche`
    pub hash_options: HashOptions,
    /// `option allbackups`
    pub allbackups: bool,
}

fn algorithm(b: &Balance) -> Algorithm {
    match b {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::StaticRr => Algorithm::StaticRr,
        Balance::LeastConn => Algorithm::LeastConn,
        Balance::First => Algorithm::First,
        Balance::Source => Algorithm::Source,
        Balance::Uri {
            len, depth, whole, ..
        } => Algorithm::Uri(UriOptions {
            len: *len,
            depth: *depth,
            whole: *whole,
        }),
        Balance::UrlParam(n) => Algorithm::UrlParam(n.clone()),
        Balance::Hdr(n) => Algorithm::Hdr(n.clone()),
        Balance::Random(n) => Algorithm::Random(*n),
        Balance::Hash(_) | Balance::RdpCookie(_) => Algorithm::Hash,
    }
}

fn hash_type(h: CfgHashType, o: HashOptions) -> HashType {
    HashType {
        method: match h {
            CfgHashType::MapBased => HashMethod::MapBased,
            CfgHashType::Consistent => HashMethod::Consistent,
        },
        function: match o.function {
            CfgHashFunction::Sdbm => HashFunction::Sdbm,
            CfgHashFunction::Djb2 => HashFunction::Djb2,
            CfgHashFunction::Crc32 => HashFunction::Crc32,
            CfgHashFunction::Wt6 => HashFunction::Wt6,
        },
        avalanche: o.avalanche,
    }
}

/// Whether `slowstart` applies to `b`: HAProxy's dynamic algorithms (roundrobin, leastconn, random, and the
/// hashing algorithms with `hash-type consistent`). Static round robin, `first` and map-based hashing keep their
/// configured weights.
pub fn is_dynamic(b: &Balance, h: CfgHashType) -> bool {
    match b {
        Balance::RoundRobin | Balance::LeastConn | Balance::Random(_) => true,
        // HAProxy: hashing is dynamic with `hash-type consistent`, static when map-based.
        Balance::Source
        | Balance::Uri { .. }
        | Balance::UrlParam(_)
        | Balance::Hdr(_)
        | Balance::Hash(_)
        | Balance::RdpCookie(_) => h == CfgHashType::Consistent,
        Balance::StaticRr | Balance::First => false,
    }
}

impl Farm {
    /// A farm with no server in use (every pick answers none).
    pub fn empty() -> Self {
        Farm(None)
    }

    /// The farm for the servers' current state, with the weights of servers in their `slowstart` ramp reduced
    /// (dynamic algorithms only).
    pub fn build(be: &FarmSpec<'_>) -> Self {
        let now = Instant::now();
        // Every slot, deleted servers included, so that the table's indices are the servers' indices.
        let ramps: Vec<Option<(Duration, Duration)>> = be
            .servers
            .slots()
            .map(|s| {
                if is_dynamic(be.balance, be.hash_type) && s.is_up() {
                    s.slowstart_progress(now)
                } else {
                    None
                }
            })
            .collect();
        let scale = if ramps.iter().any(Option::is_some) {
            let total: u64 = be.servers.slots().map(|s| u64::from(s.weight())).sum();
            ramp_scale(total, be.servers.len() as u64)
        } else {
            1
        };
        let slots: Vec<ServerSlot> = be
            .servers
            .slots()
            .zip(&ramps)
            .map(|(s, ramp)| {
                let weight = match ramp {
                    Some((elapsed, period)) => ramp_weight(s.weight(), scale, *elapsed, *period),
                    // The runtime weight (`set weight`), 0 while draining.
                    None => s.weight().saturating_mul(scale),
                };
                ServerSlot::new(weight)
                    .backup(s.config.backup)
                    .usable(s.is_up())
                    .maxconn(s.maxconn())
            })
            .collect();
        match fulcrum_balance::Farm::new(
            &slots,
            be.allbackups,
            algorithm(be.balance),
            hash_type(be.hash_type, be.hash_options),
        ) {
            Ok(f) => Farm(Some(f)),
            Err(e) => {
                tracing::error!(backend = %be.name, error = %e, "cannot build the balancing table");
                Farm(None)
            }
        }
    }

    /// Picks the index of one of `servers` (the backend's), preferring another one than `avoid` when possible.
    pub fn pick(
        &self,
        selector: &mut Selector,
        servers: &ServerList,
        key: &RequestKey,
        avoid: Option<usize>,
        rng: u64,
    ) -> Option<usize> {
        let farm = self.0.as_ref()?;
        let load = |i: usize| servers.get(i).map_or(0, |s| s.cur.load(Ordering::Relaxed));
        let key = key.borrow();
        match avoid {
            Some(a) => selector.pick_avoiding(farm, &key, load, rng, a),
            None => selector.pick(farm, &key, load, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_key_of_an_absolute_request_keeps_scheme_and_authority_unless_path_only() {
        let uri = |path_only| Balance::Uri {
            len: None,
            depth: None,
            whole: false,
            path_only,
        };
        let ip: IpAddr = "198.18.0.1".parse().unwrap();
        let abs = Request::get("http://127.0.0.1/url1?x=1").body(()).unwrap();
        let origin = Request::get("/url1?x=1").body(()).unwrap();
        let key = |b: &Balance, r: &Request<()>| RequestKey::for_request(b, ip, r).uri.unwrap();
        assert_eq!(key(&uri(false), &abs), b"http://127.0.0.1/url1?x=1");
        assert_eq!(key(&uri(true), &abs), b"/url1?x=1");
        assert_eq!(key(&uri(false), &origin), b"/url1?x=1");
        assert_eq!(key(&uri(true), &origin), b"/url1?x=1");
    }

    #[test]
    fn only_dynamic_algorithms_ramp() {
        let map = CfgHashType::MapBased;
        assert!(is_dynamic(&Balance::RoundRobin, map));
        assert!(is_dynamic(&Balance::LeastConn, map));
        assert!(is_dynamic(&Balance::Random(2), map));
        assert!(!is_dynamic(&Balance::StaticRr, map));
        assert!(!is_dynamic(&Balance::First, map));
        assert!(!is_dynamic(&Balance::Source, map));
        assert!(!is_dynamic(&Balance::Hdr("x".into()), map));
        assert!(is_dynamic(&Balance::Source, CfgHashType::Consistent));
        assert!(is_dynamic(
            &Balance::Hdr("x".into()),
            CfgHashType::Consistent
        ));
    }
}
