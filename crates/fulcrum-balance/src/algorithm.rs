//! What to balance with: HAProxy's `balance` algorithms and `hash-type`.

pub use crate::hash::HashFunction;

/// `balance ALGO [args]`: how a server is chosen for each request or connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// `roundrobin`: smooth weighted round robin (weights 3:1 give s1 s1 s2 s1).
    #[default]
    RoundRobin,
    /// `static-rr`: the same interleaved order; weights only change when the farm is rebuilt.
    StaticRr,
    /// `leastconn`: fewest connections relative to weight, round robin among ties.
    LeastConn,
    /// `first`: the lowest-id server with a free `maxconn` slot; weights are ignored.
    First,
    /// `source`: hash of the client IP address.
    Source,
    /// `uri [len N] [depth N] [whole]`: hash of the request URI.
    Uri(UriOptions),
    /// `url_param NAME`: hash of a query-string parameter's value; round robin when absent.
    UrlParam(String),
    /// `hdr(NAME)`: hash of a header's value; round robin when absent.
    Hdr(String),
    /// `random(N)`: N random draws on the consistent ring, the least loaded one wins.
    Random(u32),
    /// `hash EXPR`: hash of the value of a sample expression the caller evaluated
    /// ([`RequestKey::sample`](crate::RequestKey::sample)); round robin when absent.
    Hash,
}

impl Algorithm {
    /// Whether this algorithm hashes a request key (and so honours [`HashType`]).
    pub fn is_hash(&self) -> bool {
        matches!(
            self,
            Algorithm::Source
                | Algorithm::Uri(_)
                | Algorithm::UrlParam(_)
                | Algorithm::Hdr(_)
                | Algorithm::Hash
        )
    }
}

/// Options of `balance uri`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UriOptions {
    /// `len N`: hash at most the first N bytes.
    pub len: Option<usize>,
    /// `depth N`: hash at most N directory levels (one per `/`).
    pub depth: Option<usize>,
    /// `whole`: hash the query string too (by default hashing stops at `?`).
    pub whole: bool,
}

/// `hash-type <method> [<function>] [avalanche]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashType {
    /// map-based or consistent.
    pub method: HashMethod,
    /// The function applied to the key's bytes.
    pub function: HashFunction,
    /// `avalanche`: mix the hash before use. Consistent lookups always mix (so that
    /// neighbouring keys such as consecutive client addresses spread over the ring).
    pub avalanche: bool,
}

/// How a key's hash maps onto servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMethod {
    /// The hash modulo the total weight over a weight-expanded map: cheap, but most keys move
    /// when the set of usable servers changes.
    #[default]
    MapBased,
    /// A ring of weight-proportional points: only the keys of a server that leaves move.
    Consistent,
}
