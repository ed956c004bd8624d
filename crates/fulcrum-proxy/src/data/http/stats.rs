//! The stats page, its CSV, the Prometheus exporter and `monitor-uri`: [`collect`] copies the live counters
//! into [`fulcrum_admin::Stats`] (plain data), which `fulcrum-admin` renders; the functions below answer the
//! requests the proxy intercepts before choosing a backend.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

use fulcrum_admin::stats::{Info, ProxyStats, Row, RowKind, State, Timings};
use fulcrum_admin::Stats;
use fulcrum_config::haproxy::{Balance, Mode, StatsPage};

use crate::data::http::body::ProxyBody;
use crate::model::counters::Counters;
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, FrontendRt, Snapshot};

fn mode(m: Mode) -> String {
    match m {
        Mode::Http => "http".into(),
        Mode::Tcp => "tcp".into(),
    }
}

fn algo(b: &Balance) -> String {
    match b {
        Balance::RoundRobin => "roundrobin".into(),
        Balance::StaticRr => "static-rr".into(),
        Balance::LeastConn => "leastconn".into(),
        Balance::First => "first".into(),
        Balance::Source => "source".into(),
        Balance::Uri { .. } => "uri".into(),
        Balance::UrlParam(_) => "url_param".into(),
        Balance::Hdr(h) => format!("hdr({h})"),
        Balance::Random(_) => "random".into(),
        Balance::Hash(e) => format!("hash {e}", e = e.0),
        Balance::RdpCookie(_) => "rdp-cookie".into(),
    }
}

fn ld(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Relaxed)
}

fn hrsp(c: &Counters) -> [u64; 6] {
    std::array::from_fn(|i| c.hrsp[i].load(Relaxed))
}

/// A rate's figure over the last second and its most in one second.
fn rate(r: &crate::model::counters::SecondRate, now_ms: u64) -> Option<(u64, u64)> {
    Some((r.read(now_ms), r.max()))
}

fn timings(c: &Counters) -> Timings {
    Timings {
        queue: c.timings.queue.snapshot(),
        total: c.timings.total.snapshot(),
        connect: c.timings.connect.snapshot(),
        response: c.timings.response.snapshot(),
    }
}

fn frontend_row(fe: &FrontendRt, iid: u64) -> Row {
    let now_ms = crate::model::counters::coarse_ms();
    let c = &fe.stats;
    let http = fe.mode == Mode::Http;
    Row {
        pxname: fe.name.clone(),
        svname: "FRONTEND".into(),
        kind: RowKind::Frontend,
        scur: u64::from(fe.cur.load(Relaxed)),
        smax: u64::from(c.smax.load(Relaxed)),
        slim: fe.maxconn.map(u64::from),
        stot: ld(&c.sessions),
        bin: ld(&c.bytes_in),
        bout: ld(&c.bytes_out),
        dreq: Some(ld(&c.denied_req)),
        dresp: ld(&c.denied_resp),
        ereq: Some(ld(&c.err_req)),
        state: State::Open,
        iid,
        hrsp: http.then(|| hrsp(c)),
        // A `mode tcp` frontend has no requests (0) and intercepts nothing (empty), as HAProxy shows them.
        req_tot: Some(ld(&c.requests)),
        mode: mode(fe.mode),
        conn_tot: Some(ld(&c.conn_tot)),
        intercepted: http.then(|| ld(&c.intercepted)),
        denied_conn_sess: Some((ld(&c.denied_conn), ld(&c.denied_sess))),
        comp: Some(comp(c)),
        rate: rate(&c.sess_rate, now_ms),
        rate_lim: Some(fe.config.rate_limit_sessions.map_or(0, u64::from)),
        conn_rate: rate(&c.conn_rate, now_ms),
        req_rate: rate(&c.req_rate, now_ms),
        ssl: Some(c.ssl.values()),
        h1: Some(c.h1.values()),
        h2: Some(c.h2.values()),
        ..Row::default()
    }
}

fn server_state(s: &ServerRt) -> State {
    if s.in_maint() {
        return State::Maint;
    }
    match (s.is_checked_up(), s.config.check) {
        (true, _) if s.is_draining() => State::Drain,
        (true, _) if s.is_stopping() => State::NoLb,
        (true, true) => State::Up,
        (true, false) => State::NoCheck,
        (false, _) => State::Down,
    }
}

fn server_row(be: &BackendRt, s: &ServerRt, iid: u64) -> Row {
    let now_ms = crate::model::counters::coarse_ms();
    let c = &s.stats;
    let http = be.mode == Mode::Http;
    let state = server_state(s);
    let now = std::time::Instant::now();
    let throttle = s
        .slowstart_progress(now)
        .map(|(elapsed, period)| (elapsed.as_millis() * 100 / period.as_millis().max(1)) as u64);
    let checked = s.config.check && !s.config.disabled && !s.checks_frozen();
    let last = c.check.last();
    Row {
        pxname: be.name.clone(),
        svname: s.config.name.clone(),
        kind: RowKind::Server,
        qcur: Some(u64::from(s.queued.load(Relaxed))),
        qmax: Some(u64::from(c.qmax.load(Relaxed))),
        scur: u64::from(s.cur.load(Relaxed)),
        smax: u64::from(c.smax.load(Relaxed)),
        slim: s.maxconn().map(u64::from),
        stot: s.total.load(Relaxed),
        bin: ld(&c.bytes_in),
        bout: ld(&c.bytes_out),
        dresp: ld(&c.denied_resp),
        econ: Some(ld(&c.err_conn)),
        eresp: Some(ld(&c.err_resp)),
        wretr: Some(ld(&c.retries)),
        wredis: Some(ld(&c.redispatches)),
        state,
        // Maintenance inherited from the tracked server only (HAProxy names it in the status).
        maint_via: s
            .config
            .track
            .as_ref()
            .filter(|_| {
                s.admin() & (ServerRt::ADMIN_MAINT | ServerRt::ADMIN_DELETED)
                    == ServerRt::ADMIN_IMAINT
            })
            .map(|(b, n)| format!("{b}/{n}")),
        // The server's own weight: a drain or the stopping state takes it out of the farm, not out of this
        // column (as haproxy 2.6 shows them).
        weight: Some(u64::from(s.user_weight())),
        act: Some(u64::from(!s.config.backup)),
        bck: Some(u64::from(s.config.backup)),
        chkfail: checked.then(|| ld(&c.check.failures)),
        chkdown: checked.then(|| ld(&c.state.downs)),
        hanafail: s
            .config
            .observe
            .layer
            .map(|_| s.observer.failed.load(Relaxed)),
        lastchg: Some(c.state.last_change_secs()),
        downtime: checked.then(|| c.state.downtime_secs()),
        qlimit: s.config.maxqueue.map(u64::from),
        iid,
        sid: s.index as u64 + 1,
        throttle,
        lbtot: Some(ld(&c.lbtot)),
        check_status: checked.then(|| last.map_or("INI".to_string(), |l| l.code().to_string())),
        check_code: last
            .filter(|_| checked)
            .and_then(|_| Some(u64::from(c.check.code.load(Relaxed))).filter(|&c| c > 0)),
        // A verdict drawn from the traffic (`observe`: HANA) has no duration nor description of its own.
        check_duration: last
            .filter(|l| checked && *l != fulcrum_health::CheckStatus::Hana)
            .map(|_| ld(&c.check.duration_ms)),
        hrsp: http.then(|| hrsp(c)),
        req_tot: http.then(|| ld(&c.requests)),
        lastsess: Some(c.last_session_secs(now_ms)),
        check_desc: checked.then(|| match last {
            None => "Initializing".to_string(),
            Some(fulcrum_health::CheckStatus::Hana) => String::new(),
            Some(l) => l.description().to_string(),
        }),
        check_rise_fall_health: checked.then(|| {
            let (r, f) = (u64::from(s.config.rise), u64::from(s.config.fall));
            (r, f, if s.is_up() { r + f - 1 } else { 0 })
        }),
        agent: s
            .config
            .agent
            .as_ref()
            .filter(|_| !s.agent_frozen())
            .map(|_| agent_row(s)),
        addr: s.has_addr().then(|| s.addr().to_string()),
        mode: mode(be.mode),
        connect: Some(ld(&c.connect)),
        reuse: Some(ld(&c.reuse)),
        uweight: Some(u64::from(s.user_weight())),
        timings: Some(timings(c)),
        rate: rate(&c.sess_rate, now_ms),
        ssl: Some(c.ssl.values()),
        ..Row::default()
    }
}

/// The agent columns of a server whose agent check runs (`INI` before the first exchange).
fn agent_row(s: &ServerRt) -> fulcrum_admin::AgentRow {
    let last = s.agent_stats.last();
    fulcrum_admin::AgentRow {
        status: last.as_ref().map_or("INI", |l| l.status).to_string(),
        code: last.as_ref().and_then(|l| l.code).map(u64::from),
        duration: last.as_ref().map(|l| l.duration_ms),
        desc: last.as_ref().map_or("Initializing", |l| l.desc).to_string(),
        last: last.map(|l| l.info).unwrap_or_default(),
        health: u64::from(s.agent_up()),
    }
}

/// `comp_in`, `comp_out`, `comp_byp` (nothing bypasses fulcrum's compressor: it has no rate or CPU limit),
/// `comp_rsp`.
fn comp(c: &Counters) -> [u64; 4] {
    [ld(&c.comp_in), ld(&c.comp_out), 0, ld(&c.comp_rsp)]
}

fn backend_row(be: &BackendRt, iid: u64) -> Row {
    let now_ms = crate::model::counters::coarse_ms();
    let c = &be.stats;
    let http = be.mode == Mode::Http;
    // As HAProxy's `act`/`bck`: servers that can take traffic (a draining server, weight 0, does not count).
    let usable = |backup: bool| {
        be.servers
            .iter()
            .filter(|s| s.config.backup == backup && s.is_up() && s.weight() > 0)
            .count()
    };
    let (active, backup) = (usable(false), usable(true));
    let weight: u64 = be
        .servers
        .iter()
        .filter(|s| s.is_up() && !s.config.backup)
        .map(|s| u64::from(s.weight()))
        .sum();
    let sum = |f: fn(&Counters) -> &std::sync::atomic::AtomicU64| -> u64 {
        be.servers.iter().map(|s| f(&s.stats).load(Relaxed)).sum()
    };
    Row {
        pxname: be.name.clone(),
        svname: "BACKEND".into(),
        kind: RowKind::Backend,
        qcur: Some(u64::from(be.queue.waiting())),
        qmax: Some(u64::from(be.queue.max_waiting.load(Relaxed))),
        scur: u64::from(c.cur.load(Relaxed)),
        smax: u64::from(c.smax.load(Relaxed)),
        stot: ld(&c.sessions),
        bin: ld(&c.bytes_in),
        bout: ld(&c.bytes_out),
        dreq: Some(ld(&c.denied_req)),
        dresp: ld(&c.denied_resp),
        econ: Some(ld(&c.err_conn)),
        eresp: Some(ld(&c.err_resp)),
        wretr: Some(ld(&c.retries)),
        wredis: Some(ld(&c.redispatches)),
        state: if active + backup > 0 {
            State::Up
        } else {
            State::Down
        },
        weight: Some(weight),
        act: Some(active as u64),
        bck: Some(backup as u64),
        chkdown: Some(ld(&c.state.downs)),
        lastchg: Some(c.state.last_change_secs()),
        downtime: Some(c.state.downtime_secs()),
        iid,
        lbtot: Some(sum(|c| &c.lbtot)),
        hrsp: http.then(|| hrsp(c)),
        req_tot: http.then(|| ld(&c.requests)),
        lastsess: Some(c.last_session_secs(now_ms)),
        mode: mode(be.mode),
        algo: Some(algo(&be.balance)),
        connect: Some(sum(|c| &c.connect)),
        reuse: Some(sum(|c| &c.reuse)),
        uweight: Some(weight),
        timings: Some(timings(c)),
        comp: Some(comp(c)),
        rate: rate(&c.sess_rate, now_ms),
        ssl: Some(c.ssl.values()),
        h1: Some(c.h1.values()),
        h2: Some(c.h2.values()),
        ..Row::default()
    }
}

/// Copies every counter of `snap` into the stats model, proxies in configuration order.
pub fn collect(snap: &Snapshot) -> Stats {
    let mut proxies = Vec::with_capacity(snap.order.len());
    for (i, &(fe, be)) in snap.order.iter().enumerate() {
        let fe = fe.and_then(|i| snap.frontends.get(i));
        let be = be.and_then(|i| snap.backends.get(i));
        let iid = fe
            .map(|f| f.iid)
            .or(be.map(|b| b.iid))
            .unwrap_or(i as u64 + snap.first_iid);
        let Some(name) = fe.map(|f| &f.name).or(be.map(|b| &b.name)) else {
            continue;
        };
        proxies.push(ProxyStats {
            name: name.clone(),
            mode: mode(fe.map_or_else(|| be.map_or(Mode::Tcp, |b| b.mode), |f| f.mode)),
            frontend: fe.map(|f| frontend_row(f, iid)),
            servers: be.map_or_else(Vec::new, |b| {
                b.servers
                    .iter()
                    .filter(|s| !s.is_deleted())
                    .map(|s| server_row(b, s, iid))
                    .collect()
            }),
            backend: be.map(|b| backend_row(b, iid)),
        });
    }
    Stats {
        info: Info {
            version: format!("fulcrum {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
            uptime_secs: crate::model::counters::epoch().elapsed().as_secs(),
            current_connections: u64::from(snap.actconn.load(Relaxed)),
            max_connections: snap.global_maxconn.map(u64::from),
            dropped_logs: snap.logging.stats().lost(),
        },
        proxies,
    }
}

fn text_response(status: u16, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::fixed(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Whether a request for `uri` is the `monitor-uri` `m`, as HAProxy matches it (case-sensitively): the URI as
/// received equals `m`, or `m` starts with `/` and equals the URI's path and query (so `monitor-uri /health`
/// matches `GET http://host/health` too, while `monitor-uri http://host/health` matches only that absolute form).
pub fn is_monitor_uri(m: &str, uri: &http::Uri) -> bool {
    (m.starts_with('/') && uri.path_and_query().is_some_and(|p| p.as_str() == m)) || *uri == *m
}

/// The answer to `monitor-uri`: 200, never forwarded.
pub fn monitor_response() -> Response<ProxyBody> {
    text_response(
        200,
        "text/html",
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n".into(),
    )
}

/// The Prometheus exposition of `snap`.
pub fn prometheus_response(snap: &Snapshot) -> Response<ProxyBody> {
    text_response(
        200,
        fulcrum_admin::prometheus::CONTENT_TYPE,
        fulcrum_admin::prometheus::render(&collect(snap)),
    )
}

/// Whether the request's URI starts with the page's URI (HAProxy compares the beginning of the whole URI,
/// query included, so `/haproxy?stats;csv` belongs to `/haproxy?stats`).
pub fn is_stats_request<B>(page: &StatsPage, req: &Request<B>) -> bool {
    req.uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().starts_with(&page.uri))
}

/// Decodes standard base64 (with or without padding); `None` on any invalid character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether the request carries credentials listed by `stats auth` (always true without `stats auth`).
fn authorized<B>(page: &StatsPage, req: &Request<B>) -> bool {
    if page.auth.is_empty() {
        return true;
    }
    let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, cred)) = v.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(decoded) = base64_decode(cred.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, pass)) = decoded.split_once(':') else {
        return false;
    };
    page.auth.iter().any(|(u, p)| u == user && p == pass)
}

/// How often the stats page's pictures are sampled: 10 s, or `FULCRUM_STATS_SAMPLE_MS` (100 to 60000; for tests).
fn sample_period() -> std::time::Duration {
    std::env::var("FULCRUM_STATS_SAMPLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (100..=60_000).contains(ms))
        .map_or(
            std::time::Duration::from_secs(10),
            std::time::Duration::from_millis,
        )
}

/// Starts the thread that reads every backend's and server's counters once a period into the snapshot's history
/// (the stats page's pictures), when some proxy has a stats page; it ends when `stop` turns true. Reading the
/// counters is a few relaxed atomic loads per row, off the request path.
pub fn spawn_sampler(
    snap: std::sync::Arc<Snapshot>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    if !snap.frontends.iter().any(|f| f.config.stats.is_some()) {
        return Ok(None);
    }
    let period = sample_period();
    std::thread::Builder::new()
        .name("stats-history".into())
        .spawn(move || {
            let start = std::time::Instant::now();
            let mut next = start;
            while !*stop.borrow() {
                let now = std::time::Instant::now();
                if now >= next {
                    let stats = collect(&snap);
                    if let Ok(mut h) = snap.history.lock() {
                        h.record(now.duration_since(start).as_secs_f64(), &stats);
                    }
                    next += period;
                }
                std::thread::sleep(
                    next.saturating_duration_since(now)
                        .min(std::time::Duration::from_millis(100)),
                );
            }
        })
        .map(Some)
}

/// What the `stats http-request` rules decide for a request of the stats page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `allow`: served without asking for the `stats auth` credentials.
    Allow,
    /// `deny`: 403 (the proxy's error page).
    Deny,
    /// `auth [realm R]`: 401.
    Auth(Option<String>),
    /// No rule matched: `stats auth`, when there is one, asks for credentials (HAProxy's implicit last rule).
    Default,
}

/// The first `stats http-request` rule of `rules` whose condition holds for the request, as HAProxy evaluates
/// them (the stream gives the conditions what a request's have: `http_auth(USERLIST)`, variables).
pub fn access<B>(
    rules: &crate::model::rules::http::ProxyRules,
    req: &Request<B>,
    stream: &crate::model::rules::sample::Stream<'_>,
    src: std::net::IpAddr,
    dst_port: u16,
    tls: Option<&fulcrum_tls::Facts>,
) -> Access {
    use fulcrum_config::haproxy::StatsHttpAction;
    let facts = crate::model::rules::http::RequestFacts {
        req,
        stream: Some(stream),
        src,
        dst_port,
        tls,
        captured_uri: None,
    };
    match rules.stats_access(&facts) {
        Some(StatsHttpAction::Allow) => Access::Allow,
        Some(StatsHttpAction::Deny) => Access::Deny,
        Some(StatsHttpAction::Auth(realm)) => Access::Auth(realm.clone()),
        None => Access::Default,
    }
}

/// The 401 asking for credentials in `realm` (the page's, else HAProxy's `HAProxy Statistics`).
fn unauthorized(page: &StatsPage, realm: Option<&str>) -> Response<ProxyBody> {
    let realm = realm
        .or(page.realm.as_deref())
        .unwrap_or("HAProxy Statistics");
    let mut r = text_response(
        401,
        "text/html",
        "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n".into(),
    );
    let challenge = format!("Basic realm=\"{}\"", realm.replace('"', "'"));
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Whether `access` lets the request see the page; else the 401 to answer (a `deny` is answered by the caller,
/// with the proxy's error page).
fn admitted<B>(
    page: &StatsPage,
    req: &Request<B>,
    access: &Access,
) -> Result<(), Box<Response<ProxyBody>>> {
    match access {
        Access::Allow | Access::Deny => Ok(()),
        Access::Auth(realm) => Err(Box::new(unauthorized(page, realm.as_deref()))),
        Access::Default if authorized(page, req) => Ok(()),
        Access::Default => Err(Box::new(unauthorized(page, None))),
    }
}

/// Answers a request for the stats page of proxy `owner`: 401 without valid credentials (or per the `stats
/// http-request` rules, `access`), the CSV for `;csv`, else the HTML page.
pub fn stats_response<B>(
    page: &StatsPage,
    owner: &str,
    req: &Request<B>,
    snap: &Snapshot,
    admin: bool,
    access: &Access,
) -> Response<ProxyBody> {
    if let Err(r) = admitted(page, req, access) {
        return *r;
    }
    let rest = req
        .uri()
        .path_and_query()
        .map_or("", |pq| pq.as_str().get(page.uri.len()..).unwrap_or(""));
    let mut stats = collect(snap);
    if !page.scope.is_empty() {
        // `stats scope`: only the proxies named (`.`: the one serving the page), by their exact name.
        stats.proxies.retain(|p| {
            page.scope.iter().any(|s| {
                if s == "." {
                    p.name == owner
                } else {
                    p.name == *s
                }
            })
        });
    }
    if let Some(scope) = scope(rest) {
        // As HAProxy: only the proxies whose name contains the scope, ignoring case.
        let scope = scope.to_ascii_lowercase();
        stats
            .proxies
            .retain(|p| p.name.to_ascii_lowercase().contains(&scope));
    }
    if !page.show_legends {
        // HAProxy shows addresses and algorithms on the page only with `stats show-legends`.
        for p in &mut stats.proxies {
            for r in p.servers.iter_mut().chain(p.backend.iter_mut()) {
                r.addr = None;
                r.algo = None;
            }
        }
    }
    if rest.contains(";csv") {
        return text_response(200, "text/plain", fulcrum_admin::csv::render(&stats));
    }
    if rest.contains(";json") {
        return text_response(
            200,
            "application/json",
            fulcrum_admin::json_stat::render(&stats),
        );
    }
    let opts = fulcrum_admin::html::PageOptions {
        history: Some(snap.history.clone()),
        uri: page.uri.clone(),
        refresh: page.refresh.filter(|_| !rest.contains(";norefresh")),
        hide_version: page.hide_version,
        node: page.show_node.clone(),
        admin,
    };
    text_response(200, "text/html", fulcrum_admin::html::render(&stats, &opts))
}

/// The `scope=NAME` part of the stats page's URI (after the page's own URI), up to the next `;`, `&` or `#`:
/// the page then shows only the proxies whose name contains it. HAProxy keeps at most 20 characters of it.
fn scope(rest: &str) -> Option<&str> {
    let at = rest.find("scope=")? + "scope=".len();
    let value = &rest[at..];
    let end = value.find([';', '&', '#']).unwrap_or(value.len());
    let value = &value[..end];
    let cut = value.char_indices().nth(20).map_or(value.len(), |(i, _)| i);
    Some(&value[..cut]).filter(|v| !v.is_empty())
}

/// Whether `stats admin if|unless COND` allows this request to change server states from the page.
pub fn admin_allowed<B>(
    rules: &[fulcrum_config::haproxy::Rule<()>],
    req: &Request<B>,
    src: std::net::IpAddr,
    dst_port: u16,
    tls: Option<&fulcrum_tls::Facts>,
) -> bool {
    let facts = crate::model::rules::http::RequestFacts {
        req,
        stream: None,
        src,
        dst_port,
        tls,
        captured_uri: None,
    };
    rules.iter().any(|r| match &r.cond {
        None => true,
        Some(c) => crate::model::rules::CompiledCond::compile(c).is_ok_and(|c| c.eval(&facts)),
    })
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The outcome of an admin form, reported as HAProxy does with `;st=` on the page it redirects to.
fn apply_admin_form(body: &str, snap: &Snapshot) -> &'static str {
    use fulcrum_admin::runtime::AdminState;
    let mut backend = None;
    let mut action = None;
    let mut servers = Vec::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "b" => backend = Some(form_decode(v)),
            "action" => action = Some(form_decode(v)),
            "s" => servers.push(form_decode(v)),
            _ => {}
        }
    }
    let (Some(backend), Some(action)) = (backend, action) else {
        return "ERRP";
    };
    // HAProxy's page names the backend by its stats id, `#IID`.
    let by_iid = |iid: &str| {
        let iid = iid.parse::<u64>().ok()?;
        snap.backends.iter().find(|b| b.iid == iid)
    };
    let found = match backend.strip_prefix('#') {
        Some(iid) => by_iid(iid),
        None => snap.backends.iter().find(|b| b.name == backend),
    };
    let Some(be) = found else {
        return "ERRP";
    };
    if servers.is_empty() {
        return "NONE";
    }
    let mut done = 0;
    for name in &servers {
        let Some(s) = be.servers.iter().find(|s| &s.config.name == name) else {
            continue;
        };
        match action.as_str() {
            "ready" => crate::health::admin_state::apply_admin(
                be,
                s,
                crate::health::admin_state::admin_flags(s, AdminState::Ready),
            ),
            "drain" => crate::health::admin_state::apply_admin(
                be,
                s,
                crate::health::admin_state::admin_flags(s, AdminState::Drain),
            ),
            "maint" => crate::health::admin_state::apply_admin(
                be,
                s,
                crate::health::admin_state::admin_flags(s, AdminState::Maint),
            ),
            "dhlth" => s.set_checks_frozen(true),
            "ehlth" => s.set_checks_frozen(false),
            _ => return "ERRP",
        }
        done += 1;
    }
    match done {
        0 => "NONE",
        n if n == servers.len() => "DONE",
        _ => "PART",
    }
}

/// Answers a POST of the stats page's admin form: applies it when `stats admin` allows the request, then redirects
/// (303) to the page with `;st=DONE|PART|NONE|ERRP|DENY`, as HAProxy does.
pub async fn stats_admin_post<B>(
    page: &StatsPage,
    owner: &str,
    req: Request<B>,
    snap: &Snapshot,
    allowed: bool,
    access: &Access,
) -> Response<ProxyBody>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;
    if admitted(page, &req, access).is_err() {
        return stats_response(page, owner, &req, snap, false, access);
    }
    let req_scope = req
        .uri()
        .path_and_query()
        .and_then(|pq| scope(pq.as_str().get(page.uri.len()..)?))
        .map(str::to_string);
    let status = if !allowed {
        "DENY"
    } else {
        // A form is small; a body over 64 KiB is refused rather than buffered.
        match http_body_util::Limited::new(req.into_body(), 64 * 1024)
            .collect()
            .await
        {
            Ok(b) => apply_admin_form(&String::from_utf8_lossy(&b.to_bytes()), snap),
            Err(_) => "ERRP",
        }
    };
    let mut r = text_response(303, "text/plain", String::new());
    // The page the form came from keeps its scope, as HAProxy's redirect does.
    let scope = req_scope.map_or(String::new(), |s| format!("?scope={s}"));
    if let Ok(v) = HeaderValue::from_str(&format!("{};st={status}{scope}", page.uri)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_uri_matches_path_or_whole_uri() {
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        assert!(is_monitor_uri("/health", &uri("/health")));
        assert!(is_monitor_uri(
            "/health",
            &uri("http://www.haproxy.org/health")
        ));
        assert!(!is_monitor_uri("/health", &uri("/hEAlth")));
        assert!(!is_monitor_uri("/health", &uri("/health?x=1")));
        assert!(is_monitor_uri("/health?x=1", &uri("/health?x=1")));
        let abs = "http://www.haproxy.org/health";
        assert!(is_monitor_uri(abs, &uri(abs)));
        assert!(!is_monitor_uri(abs, &uri("/health")));
        assert!(!is_monitor_uri(abs, &uri("http://other.org/health")));
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn basic_auth() {
        let mut page = StatsPage::new(fulcrum_config::Location::new("t.cfg", 1));
        page.auth.push(("admin".into(), "s3cret".into()));
        let req = |v: &str| {
            Request::builder()
                .header("authorization", v)
                .body(())
                .unwrap()
        };
        assert!(authorized(&page, &req("Basic YWRtaW46czNjcmV0")));
        assert!(!authorized(&page, &req("Basic YWRtaW46d3Jvbmc=")));
        assert!(!authorized(&page, &req("Bearer YWRtaW46czNjcmV0")));
        assert!(!authorized(&page, &Request::new(())));
    }
}
