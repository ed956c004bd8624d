//! What one log line shows: the values the HTTP or TCP path gathers at the end of a request or connection
//! ([`Fields`]), with the variables the transaction hands over for `%[...]` samples ([`LogVars`]). The format
//! (`format.rs`) and its sample context (`sample.rs`) both read them.

use std::net::SocketAddr;

use crate::model::rules::vars::VarMap;

/// The values a log line can show, gathered by the HTTP or TCP path at the end of a request or connection.
/// Timers are milliseconds, `-1` when the step did not happen.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    /// `%ci:%cp`
    pub client: Option<SocketAddr>,
    /// `%fi:%fp`: the address the client connected to.
    pub frontend_addr: Option<SocketAddr>,
    /// `%bi:%bp`: the local address of the connection to the server.
    pub backend_src: Option<SocketAddr>,
    /// `%si:%sp`
    pub server_addr: Option<SocketAddr>,
    /// Wall-clock accept date of the stream, in microseconds since the Unix epoch (`%t`, `%T`, `%Ts`, `%ms`).
    pub accept_us: i64,
    /// Wall-clock date the request started (`%tr`), in microseconds since the Unix epoch.
    pub request_us: i64,
    /// `%f`, `%ft`
    pub frontend: &'a str,
    /// `%b`
    pub backend: &'a str,
    /// `%s` (`<NOSRV>` when no server was reached)
    pub server: &'a str,
    /// `%Th`
    pub th: i64,
    /// `%Ti`
    pub ti: i64,
    /// `%TR`
    pub t_req: i64,
    /// `%Tw`
    pub tw: i64,
    /// `%Tc`
    pub tc: i64,
    /// `%Tr`
    pub tr: i64,
    /// `%Ta`
    pub ta: i64,
    /// `%Tt`
    pub tt: i64,
    /// `%ST`, `-1` without a response.
    pub status: i32,
    /// `%B`: bytes sent to the client.
    pub bytes_out: u64,
    /// `%U`: bytes received from the client.
    pub bytes_in: u64,
    /// `%ts`: the termination state.
    pub term: [u8; 2],
    /// `%tsc`'s last two letters: the persistence cookie of the request and what the response did with it.
    pub cookie: [u8; 2],
    /// `%ac`, `%fc`, `%bc`, `%sc`
    pub conns: [u32; 4],
    /// `%rc`
    pub retries: u32,
    /// The request line as received (`%r`), `None` for `<BADREQ>`.
    pub request: Option<&'a [u8]>,
    /// Captured request and response headers (`%hr`, `%hs`), empty when none is configured.
    pub captures: [&'a [Option<Box<[u8]>>]; 2],
    /// `capture cookie`: the request's cookie and the response's (`%CC`, `%CS`).
    pub cookies: [Option<&'a [u8]>; 2],
    /// The TLS version and cipher of the client connection (`%sslv`, `%sslc`; `%ft` adds `~`), `None` on clear
    /// text.
    pub ssl: Option<(&'a str, &'a str)>,
    /// The client connection's TLS facts (`%[ssl_fc*]`), `None` on clear text.
    pub tls: Option<&'a fulcrum_tls::Facts>,
    /// The server connection's TLS facts (`%[ssl_bc*]`), `None` on clear text or without a connection.
    pub server_tls: Option<&'a fulcrum_tls::Facts>,
    /// The variables `%[var(...)]` reads, when the transaction kept them for its line.
    pub vars: Option<&'a LogVars>,
    /// The request's unique ID (`%ID`), when the frontend has a `unique-id-format`.
    pub unique_id: Option<&'a [u8]>,
    /// `option logasap`: the line is sent before the end, so `%Tt`, `%Ta` and `%B` are shown with a `+` (at
    /// least this much).
    pub asap: bool,
    /// The algorithm the response was compressed with (`res.comp_algo`).
    pub comp_algo: Option<&'static str>,
}

impl Default for Fields<'_> {
    fn default() -> Self {
        Fields {
            client: None,
            frontend_addr: None,
            backend_src: None,
            server_addr: None,
            accept_us: 0,
            request_us: 0,
            frontend: "-",
            backend: "-",
            server: "<NOSRV>",
            th: -1,
            ti: -1,
            t_req: -1,
            tw: -1,
            tc: -1,
            tr: -1,
            ta: -1,
            tt: -1,
            status: -1,
            bytes_out: 0,
            bytes_in: 0,
            term: *b"--",
            cookie: *b"--",
            conns: [0; 4],
            retries: 0,
            request: None,
            captures: [&[], &[]],
            cookies: [None, None],
            ssl: None,
            tls: None,
            server_tls: None,
            vars: None,
            unique_id: None,
            asap: false,
            comp_algo: None,
        }
    }
}

/// The variables a log line may read, moved out of the transaction when its response ended.
#[derive(Debug, Default)]
pub struct LogVars {
    /// `txn.`, `req.` and `res.` variables.
    pub txn: VarMap,
    /// `sess.` variables, as they were when the response ended.
    pub sess: VarMap,
    /// `be_server_timeout`, `be_tunnel_timeout`, `cur_server_timeout`, `cur_tunnel_timeout`, `fe_client_timeout`
    /// in milliseconds.
    pub timeouts: [Option<i64>; 5],
    /// The last final rule the stream ran (`last_rule_file`, `last_rule_line`).
    pub last_rule: Option<fulcrum_config::Location>,
}
