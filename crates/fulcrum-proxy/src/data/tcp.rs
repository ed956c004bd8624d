//! mode tcp: bytes forwarded both ways between the client and a server, with half-close passed through
//! (EOF from one side shuts down writing towards the other, the other direction goes on). When the frontend has
//! `tcp-request content` rules, the client's first bytes are buffered and inspected first ([`inspect`]); the
//! server gets them before anything else. Likewise, when the backend has `tcp-response content` rules, the
//! server's first bytes are inspected before the client gets them (meanwhile the client's further bytes wait; HAProxy
//! forwards them). The rules' variables live as long as the connection.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use fulcrum_config::haproxy::ProxyKind;

use crate::data::queue;
use crate::data::tcp_log::TcpLog;
use crate::data::tls_relay::Clear;
use crate::data::totals::{self, Done};
use crate::data::worker_state::Worker;
use crate::health::observe;
use crate::model::counters::Counters;
use crate::model::rules::http::{ContentFacts, ProxyRules, TcpEnd};
use crate::model::rules::vars::VarMap;
use crate::model::select::RequestKey;
use crate::model::snapshot::FrontendRt;
use crate::net::tls_io::{TlsClientSession, TlsSession};
use fulcrum_config::haproxy::Balance;

/// Serves one tcp-mode client connection; `ticket` holds its places under the connection limits and the
/// counters its rules track. When the backend it goes to is `mode http`, the connection is served as HTTP from
/// there on ([`crate::data::http::client::serve_upgraded`]).
pub async fn serve_client(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    client: TcpStream,
    (tls, listener): (
        Option<Arc<fulcrum_tls::server::ServerTls>>,
        Arc<crate::net::listener::ListenerInfo>,
    ),
    accepted: crate::data::worker_state::Accepted,
    ticket: crate::data::worker_state::ConnTicket,
) {
    let crate::data::worker_state::Accepted {
        peer,
        local_port,
        expect_proxy,
    } = accepted;
    let stick_ctrs = ticket.stick.clone();
    // A `mode tcp` session is one stream (HAProxy's `CumReq`).
    fe.process.stream();
    // When the connection came, for a `unique-id-format`'s `%Ts`/`%t` (a clock read only when there is one).
    let accepted_us = match fe.tcp_unique_id {
        Some(_) => crate::model::log::clock::unix_us(std::time::SystemTime::now()),
        None => 0,
    };
    // `accept-proxy`: the PROXY header comes first, before TLS, within `timeout client`.
    let proxied = match expect_proxy {
        false => None,
        true => match crate::net::proxy_header::receive(&client, fe.timeouts.client).await {
            Ok(r) => Some(r),
            Err(e) => {
                Counters::inc(&fe.stats.err_req);
                debug!(frontend = %fe.name, %peer, error = %e, "PROXY protocol header refused");
                return;
            }
        },
    };
    let proxied_dst = proxied.as_ref().and_then(|p| p.dst());
    let peer = proxied.as_ref().and_then(|p| p.src()).unwrap_or(peer);
    let local_port = proxied_dst.map_or(local_port, |d| d.port());
    // The local address costs a system call: asked only when the frontend logs.
    let mut log = match fe.log {
        Some(_) => TcpLog::begin(&fe, peer, proxied_dst.or_else(|| client.local_addr().ok())),
        None => None,
    };
    // `bind ... ssl`: TLS is terminated here (within `timeout client`), the server gets the clear text.
    let session = match tls {
        None => None,
        Some(config) => {
            let handshake = TlsSession::accept(&client, &config);
            let done = match fe.timeouts.client {
                Some(limit) => tokio::time::timeout(limit, handshake)
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                None => handshake.await,
            };
            match done {
                Ok(s) => {
                    fe.count_tls_handshake(Some(s.facts.resumed));
                    if let Some(l) = &mut log {
                        l.tls(Some(s.facts.clone()), None);
                    }
                    Some(s)
                }
                Err(e) => {
                    fe.count_tls_handshake(None);
                    debug!(frontend = %fe.name, %peer, error = %e, "SSL handshake failure");
                    if let Some(mut l) = log {
                        l.term(b"CR");
                        l.end(0, 0);
                    }
                    return;
                }
            }
        }
    };
    let vars = RefCell::new(VarMap::new());
    let log_level = log.as_ref().map(TcpLog::level_cell);
    let mut first = Vec::new();
    let stick =
        (!worker.snapshot.tables.list().is_empty()).then(|| crate::model::rules::http::ConnStick {
            tables: worker.snapshot.tables.clone(),
            ctrs: stick_ctrs,
            own: fe.name.clone(),
        });
    // `tcp-request session` rules: once, after the handshakes and before any byte is inspected. A rejected
    // session is closed without a log line, as HAProxy does.
    if fe.rules.has_session_rules() {
        let facts = ContentFacts {
            src: peer,
            dst_port: local_port,
            buf: &[],
            may_change: false,
            response: false,
            vars: Some(&vars),
            stick: stick.as_ref(),
            tls: session.as_ref().map(|s| &*s.facts),
            server_tls: None,
            sock: Some(&client),
            log_level: log_level.as_deref(),
        };
        let end = fe.rules.accept_session(&facts);
        if end != TcpEnd::Accept {
            debug!(%peer, "connection rejected by tcp-request session rules");
            Counters::inc(&fe.stats.denied_sess);
            kill(&client, end == TcpEnd::SilentDrop);
            return;
        }
    }
    // What the request-side content rules of the frontend, then of the backend, see besides the bytes.
    let request_side = |rules| Side {
        rules,
        response: false,
        peer,
        local_port,
        vars: &vars,
        stick: stick.as_ref(),
        tls: session.as_ref().map(|s| &*s.facts),
        server_tls: None,
        log_level: log_level.as_deref(),
    };
    // `switch-mode http [proto P]`: the frontend's rules made the connection HTTP.
    let mut switch = None;
    if fe.rules.has_content_rules() {
        let front = session.as_ref().map_or(Clear::Plain, Clear::Front);
        match inspect(request_side(&fe.rules), &client, front).await {
            Inspected::Switch(buf, proto) => {
                first = buf;
                switch = Some(proto);
            }
            inspected => match settle(
                inspected,
                &fe.stats.denied_req,
                &client,
                &mut log,
                peer,
                "frontend's",
            ) {
                Some(buf) => first = buf,
                None => return,
            },
        }
    }
    let facts = ContentFacts {
        src: peer,
        dst_port: local_port,
        buf: &first,
        may_change: false,
        response: false,
        vars: Some(&vars),
        stick: stick.as_ref(),
        tls: session.as_ref().map(|s| &*s.facts),
        server_tls: None,
        sock: Some(&client),
        log_level: log_level.as_deref(),
    };
    let be = match switch {
        // The HTTP side picks a backend for each request.
        Some(_) => None,
        None => fe
            .rules
            // Dynamic names are refused in mode tcp when the configuration is loaded.
            .pick_backend(&facts, &mut |_| None)
            .map(|i| i.map(|i| worker.snapshot.backends[i].clone()))
            .unwrap_or_else(|| fe.default_backend.clone()),
    };
    // An HTTP backend upgrades the connection too, as HAProxy does.
    let upgrade = switch.or_else(|| {
        be.as_ref()
            .filter(|b| b.mode == fulcrum_config::haproxy::Mode::Http)
            .map(|_| None)
    });
    if let Some(proto) = upgrade {
        // Not on a `proto none` bind, whose connections stay raw (HAProxy closes them).
        if listener.raw_only {
            debug!(%peer, "a 'proto none' connection cannot become HTTP");
            return;
        }
        // Its HTTP log lines replace the tcp one.
        drop(log);
        crate::data::http::client::serve_upgraded(
            worker,
            fe,
            client,
            session,
            (listener, proto),
            (peer, local_port, proxied),
            (&first, vars.take()),
            ticket,
        )
        .await;
        return;
    }
    let Some(be) = be else {
        if let Some(mut l) = log {
            l.term(b"SC");
            l.end(0, 0);
        }
        // In a task of its own, so the connection's counters (its frontend's, the stick counters it tracks:
        // `conn_cur`) are released now, as HAProxy releases them when the stream ends, not when the client
        // gets round to closing.
        tokio::task::spawn_local(close_gracefully(client));
        return;
    };
    if let Some(l) = &mut log {
        l.backend(&be);
    }
    // `unique-id-format`: the connection's ID, for `%ID` and a PROXY v2 header's unique ID.
    let unique_id = fe.tcp_unique_id.as_ref().map(|f| {
        let local = proxied_dst.or_else(|| client.local_addr().ok());
        crate::data::tcp_log::render_unique_id(
            f,
            &fe,
            &be,
            (peer, local, accepted_us),
            session.as_ref().map(|s| &*s.facts),
        )
    });
    if let (Some(l), Some(id)) = (&mut log, &unique_id) {
        l.unique_id(id);
    }
    // The backend's `tcp-request content` rules, as the connection enters it (with its own inspect delay), over
    // the bytes the frontend's rules buffered and those that come next. A listen's ran as its frontend's.
    if be.config.kind == ProxyKind::Backend && be.rules.has_content_rules() {
        let front = session.as_ref().map_or(Clear::Plain, Clear::Front);
        let side = request_side(&be.rules);
        let inspected = inspect_from(side, &client, front, std::mem::take(&mut first)).await;
        match settle(
            inspected,
            &be.stats.denied_req,
            &client,
            &mut log,
            peer,
            "backend's",
        ) {
            Some(buf) => first = buf,
            None => return,
        }
    }
    let mut done = Done::new(be.clone(), std::time::Instant::now());
    let mut key = RequestKey::from_ip(peer.ip());
    let mut failures = 0u32;
    let mut previous: Option<usize> = None;
    let mut refused = false;
    // `use-server`: the first attempt goes to the server the rules name; else `stick match`/`stick on`: the
    // stored server, when it is up.
    let facts = ContentFacts {
        src: peer,
        dst_port: local_port,
        buf: &first,
        may_change: false,
        response: false,
        vars: Some(&vars),
        stick: stick.as_ref(),
        tls: session.as_ref().map(|s| &*s.facts),
        server_tls: None,
        sock: Some(&client),
        log_level: log_level.as_deref(),
    };
    // `balance hash EXPR` / `rdp-cookie`: the value hashed, from the connection's first bytes (round robin
    // without one).
    if let Balance::Hash(e) | Balance::RdpCookie(e) = &be.balance {
        key = key.with_sample(facts.sample_bytes(&e.0));
    }
    let plan = be.rules.stick_plan_tcp(&facts);
    let mut forced = be
        .rules
        .has_use_server()
        .then(|| {
            be.rules.pick_server(&facts, &|i| {
                be.servers
                    .get(i)
                    .is_some_and(|s| !s.in_maint() && (s.is_up() || be.config.persist))
            })
        })
        .flatten()
        .or_else(|| rdp_persist(&be, &first))
        .or_else(|| {
            let stuck = plan.server.as_ref()?;
            be.servers.iter().position(|s| stuck.is(s) && s.is_up())
        });
    let ((server, server_tls), _guard, server_index) = loop {
        // Retries stay on the same server unless `option redispatch` allows another one.
        let same = previous
            .filter(|_| !be.redispatch)
            .or(forced.take())
            .map(|i| &be.servers[i]);
        let queued = std::time::Instant::now();
        let Ok((server, guard)) = queue::acquire(&worker, &be, &key, previous, same).await else {
            if let Some(mut l) = log {
                l.term(b"SC");
                l.end(0, 0);
            }
            return;
        };
        crate::data::totals::queue_time(&be, &server, queued.elapsed());
        // A retry on the server that just refused waits HAProxy's turn-around (another server does not).
        if std::mem::take(&mut refused) && previous == Some(server.index) {
            tokio::time::sleep(be.turn_around()).await;
        }
        if let Some(l) = &mut log {
            l.server(&server);
        }
        done.server(&server);
        // `stick store-request`/`stick on`: the server this connection goes to.
        plan.store(&server);
        Counters::inc(&server.stats.lbtot);
        if let Some(p) = previous.filter(|&p| p != server.index) {
            Counters::inc(&be.stats.redispatches);
            Counters::inc(&be.servers[p].stats.redispatches);
        }
        let attempt = std::time::Instant::now();
        let connect = connect(
            &server,
            &client,
            (proxied_dst, peer),
            session.as_ref(),
            (&first, &be),
            unique_id.as_deref(),
            &worker.snapshot.ssl_conns,
        );
        let result = match be.timeouts.connect {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => connect.await,
        };
        match result {
            Ok(s) => {
                Counters::inc(&server.stats.connect);
                totals::connect_time(&be, &server, attempt.elapsed());
                observe::report(&server, observe::Event::L4Ok);
                break (s, guard, server.index);
            }
            Err(e) => {
                debug!(server = %server.full_name, error = %e, "connect failed");
                Counters::inc(&be.stats.err_conn);
                Counters::inc(&server.stats.err_conn);
                observe::report(&server, observe::Event::L4Error);
                failures += 1;
                if failures > be.retries {
                    if let Some(mut l) = log {
                        drop(guard);
                        l.term(if e.kind() == io::ErrorKind::TimedOut {
                            b"sC"
                        } else {
                            b"SC"
                        });
                        l.end(0, 0);
                    }
                    return;
                }
                Counters::inc(&be.stats.retries);
                Counters::inc(&server.stats.retries);
                if let Some(l) = &mut log {
                    l.retry();
                }
                refused = e.kind() != io::ErrorKind::TimedOut;
                previous = Some(server.index);
            }
        }
    };
    if let Some(l) = &mut log {
        l.connected(server.local_addr().ok());
        l.tls(
            session.as_ref().map(|s| s.facts.clone()),
            server_tls.as_ref().map(|s| s.facts.clone()),
        );
        l.asap();
    }
    // TCP_NODELAY was set before connecting (`net::connect`).
    if be.config.srvtcpka {
        let _ = socket2::SockRef::from(&server).set_keepalive(true);
    }
    let server_tls = server_tls.map(RefCell::new);
    let back = server_tls.as_ref().map_or(Clear::Plain, Clear::Back);
    let server_facts = server_tls.as_ref().map(|s| s.borrow().facts.clone());
    let front = session.as_ref().map_or(Clear::Plain, Clear::Front);
    let idle = be
        .timeouts
        .tunnel
        .or(match (fe.timeouts.client, be.timeouts.server) {
            (Some(c), Some(s)) => Some(c.min(s)),
            (c, s) => c.or(s),
        });
    if !first.is_empty() {
        // The bytes the content rules looked at go first.
        if let Err(e) = within(idle, back.write_all(&server, &first)).await {
            debug!(error = %e, "forwarding the inspected bytes failed");
            if let Some(mut l) = log {
                drop(_guard);
                l.term(term_of(&e, b"sD", b"SD"));
                l.end(0, 0);
            }
            return;
        }
    }
    let mut answer = Vec::new();
    let store_response = be.rules.has_store_response();
    if be.rules.has_tcp_response_rules() || store_response {
        let side = Side {
            rules: &be.rules,
            response: true,
            peer,
            local_port,
            vars: &vars,
            stick: stick.as_ref(),
            tls: session.as_ref().map(|s| &*s.facts),
            server_tls: Some(server_facts.as_deref()),
            log_level: log_level.as_deref(),
        };
        let term: &[u8; 2] = match inspect(side, &server, back).await {
            // Response rules cannot switch (the configuration allows it in request rules only).
            Inspected::Accept(buf) | Inspected::Switch(buf, _) => {
                answer = buf;
                // `stick store-response`: the server that answered, under the key its first bytes give.
                if store_response {
                    let facts = ContentFacts {
                        src: peer,
                        dst_port: local_port,
                        buf: &answer,
                        may_change: false,
                        response: true,
                        vars: Some(&vars),
                        stick: stick.as_ref(),
                        tls: session.as_ref().map(|s| &*s.facts),
                        server_tls: Some(server_facts.as_deref()),
                        sock: None,
                        log_level: log_level.as_deref(),
                    };
                    be.rules
                        .stick_store_response_tcp(&facts, &be.servers[server_index]);
                }
                b"--"
            }
            Inspected::Reject(..) => {
                debug!(%peer, "connection rejected by tcp-response content rules");
                Counters::inc(&fe.stats.denied_resp);
                Counters::inc(&be.stats.denied_resp);
                // Both connections are killed, as HAProxy does.
                #[allow(deprecated)]
                let _ = client.set_linger(Some(Duration::ZERO));
                #[allow(deprecated)]
                let _ = server.set_linger(Some(Duration::ZERO));
                b"PD"
            }
            Inspected::Aborted(_) => b"SD",
        };
        if term != b"--" {
            if let Some(mut l) = log {
                drop(_guard);
                l.term(term);
                l.end(first.len() as u64, 0);
            }
            return;
        }
    }
    if !answer.is_empty() {
        // The bytes the response rules looked at go to the client first.
        let write = front.write_all(&client, &answer);
        if let Err(e) = within(idle, write).await {
            debug!(error = %e, "forwarding the inspected response bytes failed");
            if let Some(mut l) = log {
                drop(_guard);
                l.term(term_of(&e, b"cD", b"CD"));
                l.end(first.len() as u64, 0);
            }
            return;
        }
    }
    let relay = async {
        if front.is_tls() || back.is_tls() {
            crate::data::tls_relay::relay(&client, front, &server, back, idle).await
        } else if fe.splice {
            crate::net::splice::bidirectional(&client, &server, idle).await
        } else {
            crate::net::splice::copy_bidirectional(&client, &server, idle).await
        }
    };
    // `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`: the session ends at once.
    let shutdown = be.servers[server_index].observer.shutdown.notified();
    let mut end = tokio::select! {
        end = relay => end,
        _ = shutdown => {
            debug!("session closed: its server changed state (on-marked-down / on-marked-up)");
            if let Some(mut l) = log {
                drop(_guard);
                l.term(b"KD");
                l.end(first.len() as u64, answer.len() as u64);
            }
            return;
        }
    };
    end.a_to_b += first.len() as u64;
    end.b_to_a += answer.len() as u64;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    fe.stats.bytes_in.fetch_add(end.a_to_b, relaxed);
    fe.stats.bytes_out.fetch_add(end.b_to_a, relaxed);
    done.bytes_in = end.a_to_b;
    done.bytes_out = end.b_to_a;
    // The tracked entries count the connection's bytes (`bytes_in_*` from the client, `bytes_out_*` to it).
    if let Some(st) = &stick {
        st.ctrs.each(&mut |d| {
            d.bytes_in(end.a_to_b);
            d.bytes_out(end.b_to_a);
        });
    }
    if let Some(mut l) = log {
        drop(_guard);
        if end.timed_out {
            // The idle limit is the smaller of the two timeouts: name the side whose timeout it is.
            let client_side = match (fe.timeouts.client, be.timeouts.server) {
                (Some(c), Some(s)) => c <= s,
                (c, _) => c.is_some(),
            };
            l.term(if client_side && be.timeouts.tunnel.is_none() {
                b"cD"
            } else {
                b"sD"
            });
        } else if end.a_failed {
            l.term(b"CD");
        } else if end.b_failed {
            l.term(b"SD");
        }
        l.end(end.a_to_b, end.b_to_a);
    }
}

/// Connects to `server`; a `send-proxy` server gets its PROXY header first, an `ssl` server its TLS handshake
/// (all within the same connect timeout). `first`: the client's bytes the content rules looked at (the `sni`
/// expression may read them). The backend's `option tcp-smart-connect` delays the handshake's last ACK when
/// something is sent at once (those bytes, a PROXY header or a TLS hello), never for a server that speaks first;
/// its `option nolinger` makes closing the connection reset it; `tune.rcvbuf/sndbuf.server` size its buffers.
async fn connect(
    server: &crate::model::server::ServerRt,
    client: &TcpStream,
    (dst, peer): (Option<SocketAddr>, SocketAddr),
    tls: Option<&TlsSession>,
    (first, be): (&[u8], &crate::model::snapshot::BackendRt),
    unique_id: Option<&[u8]>,
    ssl_conns: &std::sync::Arc<crate::model::ssl_conns::SslConns>,
) -> io::Result<(TcpStream, Option<TlsClientSession>)> {
    let addr = server.target(|| dst.or_else(|| client.local_addr().ok()));
    // Under `maxsslconn`, a TLS connection over the limit is not even started.
    let counted = match (&server.tls, server.config.tls.as_ref()) {
        (Some(_), Some(_)) if server.tls_traffic() => Some(
            ssl_conns
                .try_take()
                .ok_or_else(|| io::Error::other("too many SSL connections"))?,
        ),
        _ => None,
    };
    let stream = match &server.config.unix {
        Some(u) => crate::net::unix::connect(u).await?,
        None => {
            let sends_at_once =
                !first.is_empty() || server.config.send_proxy.is_some() || server.tls.is_some();
            let tuning = crate::net::connect::Tuning {
                delay_ack: be.config.tcp_smart_connect && sends_at_once,
                user_timeout: server.config.tcp_user_timeout,
                nolinger: be.config.nolinger,
                bufs: be.server_bufs,
            };
            crate::net::socks4::connect(addr, server.config.socks4, tuning).await?
        }
    };
    let mut stream = stream;
    if let Some(how) = &server.config.send_proxy {
        let dst = dst.or_else(|| client.local_addr().ok());
        let facts = crate::net::proxy_header::Facts {
            tls: tls.map(|t| &*t.facts),
            unique_id,
        };
        let mut line = Vec::new();
        crate::net::proxy_header::encode(how, dst.map(|d| (peer, d)), &facts, &mut line);
        stream.write_all(&line).await?;
    }
    let session = match (&server.tls, server.config.tls.as_ref()) {
        (Some(config), Some(t)) if server.tls_traffic() => {
            let sni = t.sni.as_ref().and_then(|e| {
                crate::data::tcp_sni::evaluate(&e.0, first, peer, tls.map(|t| &*t.facts))
            });
            let name = fulcrum_tls::client::server_name(sni.as_deref(), addr.ip());
            let session = TlsClientSession::connect(&stream, config.clone(), name).await;
            be.count_tls_handshake(server, session.as_ref().ok().map(|s| s.facts.resumed));
            let session = session?;
            Some(match counted {
                Some(c) => session.counted_as(c),
                None => session,
            })
        }
        _ => None,
    };
    Ok((stream, session))
}

/// How many request bytes are inspected at most: HAProxy's buffer (`tune.bufsize`, 16384) less the room it keeps
/// for rewrites (`tune.maxrewrite`, 1024); the rules decide once it is full, whatever the delay left.
pub const INSPECT_MAX: usize = 16384 - 1024;

/// What the `tcp-request content` rules decided, with the bytes buffered.
enum Inspected {
    Accept(Vec<u8>),
    /// `switch-mode http [proto P]`: the connection is HTTP from here on.
    Switch(Vec<u8>, Option<fulcrum_config::haproxy::BindProto>),
    /// `reject`, or `silent-drop` (`true`).
    Reject(Vec<u8>, bool),
    /// The client's connection failed while the rules waited.
    Aborted(Vec<u8>),
}

/// The rules one inspection runs and what they see besides the bytes.
struct Side<'a> {
    rules: &'a ProxyRules,
    /// `tcp-response content` (the server's bytes) rather than `tcp-request content` (the client's).
    response: bool,
    peer: SocketAddr,
    local_port: u16,
    vars: &'a RefCell<VarMap>,
    stick: Option<&'a crate::model::rules::http::ConnStick>,
    /// The client connection's TLS facts.
    tls: Option<&'a fulcrum_tls::Facts>,
    /// The server connection's, once made (`Some(None)` on clear text).
    server_tls: Option<Option<&'a fulcrum_tls::Facts>>,
    /// The level `set-log-level` gives the connection's log line (when it logs one).
    log_level: Option<&'a std::cell::Cell<Option<Option<u8>>>>,
}

/// Buffers the first bytes of one side (the client's, or the server's for `tcp-response content`) and runs the
/// rules over them each time bytes arrive, as HAProxy's `tcp_inspect_request` / `tcp_inspect_response`: a rule
/// whose condition cannot be decided yet waits for more bytes until the inspect delay expires, the peer closes or
/// the buffer is full; then the rules run a last time on what arrived (from that rule on: the variable actions
/// before it are not run twice). Without an inspect delay, they run once on the bytes already there. No rule
/// matching accepts.
async fn inspect(side: Side<'_>, stream: &TcpStream, clear: Clear<'_>) -> Inspected {
    inspect_from(side, stream, clear, Vec::new()).await
}

/// [`inspect`], the bytes `buf` already buffered (by a frontend's rules, for a backend's).
async fn inspect_from(
    side: Side<'_>,
    stream: &TcpStream,
    clear: Clear<'_>,
    mut buf: Vec<u8>,
) -> Inspected {
    let delay = if side.response {
        side.rules.response_inspect_delay()
    } else {
        side.rules.inspect_delay()
    };
    let deadline = delay.map(|d| Instant::now() + d);
    let peer = side.peer;
    let mut closed = false;
    let mut next = 0;
    loop {
        // Take every byte already there (without waiting).
        while !closed && buf.len() < INSPECT_MAX {
            let old = buf.len();
            buf.resize(INSPECT_MAX, 0);
            let read = clear.try_read(stream, &mut buf[old..]);
            match read {
                Ok(0) => {
                    buf.truncate(old);
                    closed = true;
                }
                Ok(n) => buf.truncate(old + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buf.truncate(old);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(old),
                Err(e) => {
                    debug!(%peer, error = %e, "connection failed during tcp content inspection");
                    buf.truncate(old);
                    return Inspected::Aborted(buf);
                }
            }
        }
        let waiting = deadline.filter(|d| Instant::now() < *d);
        let facts = ContentFacts {
            src: peer,
            dst_port: side.local_port,
            buf: &buf,
            may_change: !closed && buf.len() < INSPECT_MAX && waiting.is_some(),
            response: side.response,
            vars: Some(side.vars),
            stick: side.stick,
            tls: side.tls,
            server_tls: side.server_tls,
            sock: (!side.response).then_some(stream),
            log_level: side.log_level,
        };
        let verdict = if side.response {
            side.rules.inspect_response(&facts, &mut next)
        } else {
            side.rules.inspect_content(&facts, &mut next)
        };
        match verdict {
            Some(TcpEnd::Accept) => return Inspected::Accept(buf),
            Some(TcpEnd::SwitchHttp(proto)) => return Inspected::Switch(buf, proto),
            Some(TcpEnd::Reject) => return Inspected::Reject(buf, false),
            Some(TcpEnd::SilentDrop) => return Inspected::Reject(buf, true),
            None => {}
        }
        // Undecided: only while more bytes may come, so there is a deadline ahead.
        let Some(d) = waiting else {
            return Inspected::Accept(buf);
        };
        if let Ok(Err(e)) = tokio::time::timeout_at(d, stream.readable()).await {
            debug!(%peer, error = %e, "connection failed during tcp content inspection");
            return Inspected::Aborted(buf);
        }
    }
}

/// Ends a rejected client connection as HAProxy does: a reset, or nothing the client sees (`silent`).
/// Acts on what `tcp-request content` rules decided: the bytes to forward when they accepted; `None` when the
/// connection ends here (rejected: counted in `denied`, closed or silently dropped, logged `PR`; or the client
/// went away: `CR`). `whose`: the frontend's or the backend's rules, for the debug line.
fn settle(
    inspected: Inspected,
    denied: &std::sync::atomic::AtomicU64,
    client: &TcpStream,
    log: &mut Option<TcpLog>,
    peer: SocketAddr,
    whose: &str,
) -> Option<Vec<u8>> {
    let (buf, term) = match inspected {
        // Only the frontend's rules switch (the configuration refuses it elsewhere), which their caller handles.
        Inspected::Accept(buf) | Inspected::Switch(buf, _) => return Some(buf),
        Inspected::Reject(buf, silent) => {
            debug!(%peer, "connection rejected by the {whose} tcp-request content rules");
            Counters::inc(denied);
            kill(client, silent);
            (buf, b"PR")
        }
        Inspected::Aborted(buf) => (buf, b"CR"),
    };
    if let Some(mut l) = log.take() {
        l.term(term);
        l.end(buf.len() as u64, 0);
    }
    None
}

/// Closes a connection no backend takes as HAProxy does, with a FIN rather than a reset: the sending side is
/// shut, then what the client sent (or sends within a second) is read and dropped until it closes. Without this
/// the kernel answers unread bytes with a reset (an `option ssl-hello-chk` against such a frontend then reads
/// `Connection reset by peer` where haproxy 2.6 gives `TCPCHK got an empty response`).
async fn close_gracefully(mut client: TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = client.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    // Bounded by the deadline; each read returns data, EOF or an error.
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, client.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}

fn kill(client: &TcpStream, silent: bool) {
    if silent {
        crate::net::silent_drop::forget(client);
    } else {
        #[allow(deprecated)]
        let _ = client.set_linger(Some(Duration::ZERO));
    }
}

/// Runs `write`, bounded by `idle` when there is one; running out of time is an error of kind `TimedOut`.
async fn within(
    idle: Option<Duration>,
    write: impl std::future::Future<Output = io::Result<()>>,
) -> io::Result<()> {
    match idle {
        Some(t) => tokio::time::timeout(t, write)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => write.await,
    }
}

/// The log's termination state for a failed write: `timeout` when it ran out of time, else `other`.
fn term_of(e: &io::Error, timeout: &'static [u8; 2], other: &'static [u8; 2]) -> &'static [u8; 2] {
    if e.kind() == io::ErrorKind::TimedOut {
        timeout
    } else {
        other
    }
}

/// `persist rdp-cookie[(NAME)]`: the server whose address and port the client's RDP cookie NAME carries
/// (Microsoft's routing token `IP.PORT.0000`: the IPv4 address's four bytes read as a little-endian number, the
/// port's two bytes swapped), when it is up or `option persist` holds.
fn rdp_persist(be: &crate::model::snapshot::BackendRt, first: &[u8]) -> Option<usize> {
    let name = be.config.persist_rdp.as_deref()?;
    let token = fulcrum_sample::rdp_cookie(first, Some(name.as_bytes()))??;
    let target = routing_token(token)?;
    be.servers
        .iter()
        .position(|s| s.addr() == target && !s.in_maint() && (s.is_up() || be.config.persist))
}

/// The address a Microsoft routing token (`msts=IP.PORT.0000`) names.
fn routing_token(token: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(token).ok()?;
    let mut parts = text.split('.');
    let ip: u32 = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    parts.next()?;
    Some(SocketAddr::from((ip.to_le_bytes(), port.swap_bytes())))
}

#[cfg(test)]
mod rdp_tests {
    #[test]
    fn routing_tokens_name_an_address_and_port() {
        // 172.16.1.217:3389, as Microsoft's documentation writes it.
        assert_eq!(
            super::routing_token(b"3640725676.15629.0000"),
            Some("172.16.1.217:3389".parse().unwrap())
        );
        assert_eq!(super::routing_token(b"3640725676.15629"), None);
        assert_eq!(super::routing_token(b"x.15629.0000"), None);
    }
}
