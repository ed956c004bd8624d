//! What a `defaults`, `frontend`, `backend` or `listen` section collects while its lines are read ([`Settings`],
//! inherited from `defaults`, and [`Body`], a proxy's own), below the keyword parsers of `proxy.rs`,
//! `http_check.rs` and `tcp_check.rs`, which all fill it.

use super::model::{
    Balance, Bind, Capture, Fmt, ForwardFor, HashOptions, HashType, HttpCheck, HttpCheckRule,
    HttpConnMode, HttpReuse, LoadServerState, LogFormatLine, LogTarget, Mode, ProtocolCheck,
    RetryOn, StatsPage, TcpCheckRule, Timeouts,
};
use super::rules::{self, RulesDraft};
use super::server::{ServerDraft, ServerOpts};
use crate::Location;

/// Everything a `defaults` section can set, and that a proxy inherits from it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `mode`
    pub mode: Mode,
    /// `id N`: the proxy's own id, and where the line was (not in defaults).
    pub id: Option<(u32, Location)>,
    /// `disabled` (`enabled` clears it).
    pub disabled: bool,
    /// `backlog N`: the listen queue of the proxy's sockets.
    pub backlog: Option<u32>,
    /// `fullconn N`
    pub fullconn: Option<u32>,
    /// `maxconn`
    pub maxconn: Option<u32>,
    /// `rate-limit sessions N`: new sessions per second a frontend accepts (0: no limit).
    pub rate_limit_sessions: Option<u32>,
    /// `timeout ...`
    pub timeouts: Timeouts,
    /// `option http-keep-alive|http-server-close|httpclose`
    pub http_conn_mode: HttpConnMode,
    /// `option forwardfor`
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto`
    pub originalto: Option<ForwardFor>,
    /// `default_backend` and where it was set
    pub default_backend: Option<(String, Location)>,
    /// `balance`
    pub balance: Balance,
    /// `persist rdp-cookie[(NAME)]`: the cookie's name (`msts` by default).
    pub persist_rdp: Option<String>,
    /// `hash-type`
    pub hash_type: HashType,
    /// `hash-type`'s function and `avalanche`
    pub hash_options: HashOptions,
    /// `option httpchk`: checks are HTTP
    pub httpchk: bool,
    /// `option smtpchk`, `redis-check`... (the last check option wins over `option httpchk` and the others)
    pub protocol_check: Option<ProtocolCheck>,
    /// `option external-check`
    pub external_check: bool,
    /// `external-check command CMD`
    pub external_command: Option<String>,
    /// `external-check path PATH`
    pub external_path: Option<String>,
    /// The check's request: implied by `option httpchk`'s arguments, merged with `http-check send`
    pub http_send: Option<CheckSend>,
    /// The `http-check` rules in order; the first `send` stands for `http_send` (merged with `option httpchk`).
    pub http_rules: Vec<HttpCheckRule>,
    /// `http-check` lines were given (warned about when `option httpchk` is not)
    pub http_check_rules: bool,
    /// `http-check send-state` (a proxy option: inherited from defaults, kept by a section's own rules)
    pub http_send_state: bool,
    /// `http-check disable-on-404`
    pub http_disable_on_404: bool,
    /// `option tcp-check`: checks run the `tcp-check` rules
    pub tcpchk: bool,
    /// `tcp-check` rules, in order
    pub tcp_check_rules: Vec<TcpCheckRule>,
    /// `tcp-check` lines were given (warned about when `option tcp-check` is not)
    pub tcp_check_lines: bool,
    /// `retries`
    pub retries: u32,
    /// `option redispatch`
    pub redispatch: bool,
    /// `option persist`: a cookie naming a down server still sends the request there
    pub persist: bool,
    /// `http-send-name-header NAME`
    pub send_name_header: Option<String>,
    /// `cookie NAME ...` and where it was given
    pub cookie: Option<(super::cookie::CookiePersist, Location)>,
    /// `dynamic-cookie-key KEY`
    pub dynamic_cookie_key: Option<String>,
    /// `option allbackups`
    pub allbackups: bool,
    /// `option httplog` (or `option httpslog`)
    pub httplog: bool,
    /// `option httpslog`: the httplog line followed by the TLS fields
    pub httpslog: bool,
    /// `option tcplog`
    pub tcplog: bool,
    /// `option dontlognull`
    pub dontlognull: bool,
    /// `log-tag TAG`
    pub log_tag: Option<String>,
    /// `option dontlog-normal`
    pub dontlog_normal: bool,
    /// `option logasap`
    pub logasap: bool,
    /// `option http-buffer-request`
    pub http_buffer_request: bool,
    /// `option accept-invalid-http-request`
    pub accept_invalid_request: bool,
    /// `option accept-invalid-http-response`
    pub accept_invalid_response: bool,
    /// `option abortonclose`
    pub abortonclose: bool,
    /// `option clitcpka` (or `tcpka`): TCP keep-alive probes on client connections
    pub clitcpka: bool,
    /// `option srvtcpka` (or `tcpka`): TCP keep-alive probes on server connections
    pub srvtcpka: bool,
    /// `[no] option tcp-smart-accept` when given (the default depends on the mode)
    pub tcp_smart_accept: Option<bool>,
    /// `option tcp-smart-connect`
    pub tcp_smart_connect: bool,
    /// `option splice-response`
    pub splice_response: bool,
    /// `option splice-request`
    pub splice_request: bool,
    /// `option splice-auto`
    pub splice_auto: bool,
    /// `option nolinger`
    pub nolinger: bool,
    /// `option log-health-checks`
    pub log_health_checks: bool,
    /// `load-server-state-from-file`
    pub load_server_state: LoadServerState,
    /// `server-state-file-name` (`None`: the backend's name)
    pub server_state_file_name: Option<String>,
    /// `log global`
    pub log_global: bool,
    /// `log` lines
    pub logs: Vec<LogTarget>,
    /// `default-server` options in force
    pub default_server: ServerOpts,
    /// `errorfile`, `errorfiles` and `http-error` lines in order, resolved once every `http-errors` section is known
    pub errorfiles: Vec<rules::ErrorEntry>,
    /// `log-format`
    pub log_format: Option<LogFormatLine>,
    /// `retry-on`
    pub retry_on: RetryOn,
    /// `stats ...`
    pub stats: Option<StatsPage>,
    /// `monitor-uri`
    pub monitor_uri: Option<String>,
    /// `unique-id-format`
    pub unique_id_format: Option<Fmt>,
    /// `unique-id-header`
    pub unique_id_header: Option<String>,
    /// `http-reuse`
    pub http_reuse: HttpReuse,
    /// `compression algo|type|offload`
    pub compression: Option<super::compression::Compression>,
    /// The TCP/HTTP rules of the named `defaults` section this one comes from, if it defines any.
    pub rules_from: Option<InheritedRules>,
}

/// The TCP/HTTP rules a named `defaults` section defines, as the sections using it see them: they run before the
/// section's own rules.
#[derive(Debug, Clone)]
pub struct InheritedRules {
    /// Which defaults section's rules (an index into the rule sets of the named defaults sections).
    pub index: usize,
    /// Where that section starts.
    pub location: Location,
    /// It has `tcp-request connection` (or `session`) rules, which backends cannot run.
    pub frontend_only: bool,
    /// It has `tcp-response content` rules, which frontends cannot run.
    pub backend_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Tcp,
            id: None,
            disabled: false,
            backlog: None,
            fullconn: None,
            maxconn: None,
            rate_limit_sessions: None,
            timeouts: Timeouts::default(),
            http_conn_mode: HttpConnMode::KeepAlive,
            forwardfor: None,
            originalto: None,
            default_backend: None,
            balance: Balance::RoundRobin,
            persist_rdp: None,
            hash_type: HashType::MapBased,
            hash_options: HashOptions::default(),
            httpchk: false,
            protocol_check: None,
            external_check: false,
            external_command: None,
            external_path: None,
            tcpchk: false,
            tcp_check_rules: Vec::new(),
            tcp_check_lines: false,
            http_send: None,
            http_rules: Vec::new(),
            http_check_rules: false,
            http_send_state: false,
            http_disable_on_404: false,
            retries: 3,
            redispatch: false,
            persist: false,
            send_name_header: None,
            cookie: None,
            dynamic_cookie_key: None,
            allbackups: false,
            httplog: false,
            httpslog: false,
            tcplog: false,
            dontlognull: false,
            log_tag: None,
            dontlog_normal: false,
            logasap: false,
            log_health_checks: false,
            load_server_state: LoadServerState::None,
            server_state_file_name: None,
            http_buffer_request: false,
            accept_invalid_request: false,
            accept_invalid_response: false,
            abortonclose: false,
            clitcpka: false,
            srvtcpka: false,
            tcp_smart_accept: None,
            tcp_smart_connect: false,
            splice_response: false,
            splice_request: false,
            splice_auto: false,
            nolinger: false,
            log_global: false,
            logs: Vec::new(),
            default_server: ServerOpts::default(),
            errorfiles: Vec::new(),
            log_format: None,
            retry_on: RetryOn::default(),
            stats: None,
            monitor_uri: None,
            unique_id_format: None,
            unique_id_header: None,
            http_reuse: HttpReuse::Safe,
            compression: None,
            rules_from: None,
        }
    }
}

/// What only proxies (not defaults) collect: listeners and servers.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// `bind` lines
    pub binds: Vec<Bind>,
    /// `server` lines
    pub servers: Vec<ServerDraft>,
    /// How many `bind` lines were written, valid or not.
    pub bind_lines: usize,
    /// `acl`, `use_backend`, `http-request`, `http-response`, `tcp-request`, `redirect` lines
    pub rules: RulesDraft,
    /// `dispatch ADDR:PORT`, as the server every request goes to
    pub dispatch: Option<ServerDraft>,
    /// `capture request header` lines
    pub capture_request: Vec<Capture>,
    /// `capture response header` lines
    pub capture_response: Vec<Capture>,
    /// `capture cookie NAME len N`
    pub capture_cookie: Option<Capture>,
    /// `stick-table`
    pub stick_table: Option<crate::haproxy::model::StickTable>,
    /// `description TEXT...`
    pub description: Option<String>,
    /// `filter` lines
    pub filters: Vec<(super::compression::Filter, Location)>,
    /// This section started its own HTTP check ruleset (`option httpchk` or `http-check`): the one of the
    /// defaults section is no longer inherited, as in HAProxy.
    pub own_check_rules: bool,
    /// This section started its own tcp-check ruleset: the defaults section's is no longer inherited.
    pub own_tcp_check_rules: bool,
    /// Lines of this section that set an option the section's proxy cannot use (`accept-invalid-http-request` in a
    /// backend, `-response` in a frontend): where, and the option's name, for HAProxy's warning once the proxy's
    /// name is known.
    pub ignored_options: Vec<(Location, &'static str)>,
    /// `backlog` in a backend, `fullconn` in a frontend: where and which, for HAProxy's warning.
    pub ignored_keywords: Vec<(Location, &'static str)>,
    /// The servers its lines name in `srv_*` fetches: `(backend, server, where)`, the backend `None` for the
    /// section's own.
    pub server_refs: Vec<(Option<String>, String, Location)>,
}

/// An `http-check send` rule, or the one `option httpchk ARGS` implies; what is unset takes HAProxy's default
/// (`OPTIONS / HTTP/1.0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSend {
    /// `meth`
    pub method: Option<String>,
    /// `uri`
    pub uri: Option<String>,
    /// `ver`
    pub version: Option<String>,
    /// `hdr NAME VALUE`, in order
    pub headers: Vec<(String, String)>,
    /// `body`
    pub body: Option<String>,
    /// Implied by `option httpchk` (not an `http-check send` line)
    pub from_option: bool,
    /// `uri-lf`: the URI is a log-format string
    pub uri_lf: bool,
    /// `body-lf`: the body is a log-format string
    pub body_lf: bool,
    /// The headers are `http-check send hdr` ones: their values are log-format strings
    pub headers_lf: bool,
}

impl CheckSend {
    /// Overwrites what `new` sets (HAProxy's merge of `option httpchk` with `http-check send`): method, URI,
    /// version and body one by one, the headers as a whole.
    pub(super) fn overwrite(&mut self, new: CheckSend) {
        if new.method.is_some() {
            self.method = new.method;
        }
        if new.uri.is_some() {
            self.uri = new.uri;
            self.uri_lf = new.uri_lf;
        }
        if new.version.is_some() {
            self.version = new.version;
        }
        if !new.headers.is_empty() {
            self.headers = new.headers;
            self.headers_lf = new.headers_lf;
        }
        if new.body.is_some() {
            self.body = new.body;
            self.body_lf = new.body_lf;
        }
    }

    /// The request, HAProxy's defaults filled in.
    pub fn resolve(self) -> HttpCheck {
        HttpCheck {
            method: self.method.unwrap_or_else(|| "OPTIONS".into()),
            uri: self.uri.unwrap_or_else(|| "/".into()),
            version: self.version.unwrap_or_else(|| "HTTP/1.0".into()),
            headers: self.headers,
            body: self.body,
            uri_lf: self.uri_lf,
            body_lf: self.body_lf,
            headers_lf: self.headers_lf,
        }
    }
}

/// Starts the section's own HTTP check ruleset on its first `option httpchk` / `http-check` line: HAProxy then
/// drops the send and expect rules of the defaults section (the check type, `option httpchk`, stays).
pub(crate) fn own_check_rules(s: &mut Settings, body: &mut Body) {
    if !body.own_check_rules {
        body.own_check_rules = true;
        s.http_send = None;
        s.http_rules.clear();
    }
}
