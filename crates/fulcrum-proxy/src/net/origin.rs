//! A small built-in HTTP origin server, used by `fulcrum demo` and by the tests as a real backend.
//!
//! It runs on its own thread and answers:
//! - `/health`: 200 `ok`, or 503 while [`Origin::set_healthy`] is false;
//! - `/headers`: the request line and headers as received, one per line;
//! - `/count`: reads the whole request body and answers with its length (streams, never buffers it);
//! - `/bytes/N`: a chunked response of N bytes;
//! - `/status/N`: an empty response with status N;
//! - `/sleep/MS`: answers after MS milliseconds;
//! - a request asking `Upgrade: websocket`: 101, then echoes every byte back;
//! - anything else: `Hello from NAME` with an `x-served-by: NAME` header.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

type OriginBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

struct State {
    name: String,
    healthy: AtomicBool,
    connections: AtomicU64,
    requests: AtomicU64,
}

/// A running origin server.
pub struct Origin {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts an origin called `name` on `addr` (port 0 picks a free port).
    pub fn start(name: &str, addr: SocketAddr) -> std::io::Result<Origin> {
        let std_listener = crate::net::listener::bind_reuseport(addr, 1)?
            .pop()
            .ok_or_else(|| std::io::Error::other("no socket"))?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(State {
            name: name.to_string(),
            healthy: AtomicBool::new(true),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        let (stop, mut stop_rx) = watch::channel(false);
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("origin-{name}"))
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let mut conns = tokio::task::JoinSet::new();
                    loop {
                        tokio::select! {
                            _ = stop_rx.changed() => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let _ = stream.set_nodelay(true);
                                st.connections.fetch_add(1, Ordering::Relaxed);
                                let st = st.clone();
                                conns.spawn(async move {
                                    let svc = service_fn(move |req| handle(st.clone(), req));
                                    let _ = http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .with_upgrades()
                                        .await;
                                });
                            }
                        }
                    }
                    conns.abort_all();
                });
            })?;
        Ok(Origin {
            addr,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name, as it appears in responses.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Makes `/health` answer 200 (true) or 503 (false).
    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::Relaxed);
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Requests served so far (health checks included).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Stops listening, closes every connection and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn full(s: impl Into<Bytes>) -> OriginBody {
    Full::new(s.into()).boxed()
}

fn text(status: StatusCode, s: impl Into<Bytes>) -> Response<OriginBody> {
    let mut r = Response::new(full(s));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

async fn handle(
    st: Arc<State>,
    mut req: Request<Incoming>,
) -> Result<Response<OriginBody>, Infallible> {
    st.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    if req.headers().contains_key(header::UPGRADE) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on_upgrade.await {
                let mut io = TokioIo::new(up);
                let (mut r, mut w) = tokio::io::split(&mut io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        // RFC 6455 section 4.2.2: the accept key proves the handshake was read.
        if let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) {
            use base64::Engine as _;
            use sha1::Digest as _;
            let mut h = sha1::Sha1::new();
            h.update(key.as_bytes());
            h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let accept = base64::engine::general_purpose::STANDARD.encode(h.finalize());
            if let Ok(v) = HeaderValue::from_str(&accept) {
                r.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
        }
        return Ok(r);
    }
    let resp = if path == "/health" {
        if st.healthy.load(Ordering::Relaxed) {
            text(StatusCode::OK, "ok\n")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
        }
    } else if path == "/headers" {
        let mut out = format!("{} {} {:?}\n", req.method(), req.uri(), req.version());
        for (k, v) in req.headers() {
            out.push_str(&format!(
                "{}: {}\n",
                k,
                String::from_utf8_lossy(v.as_bytes())
            ));
        }
        text(StatusCode::OK, out)
    } else if path == "/count" {
        let mut body = req.into_body();
        let mut n: u64 = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => break,
            }
        }
        text(StatusCode::OK, format!("{n}\n"))
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        let total: u64 = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let mut r = Response::new(ChunkBody { left: total, chunk }.boxed());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    } else if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        text(status, Bytes::new())
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        text(StatusCode::OK, "slept\n")
    } else {
        let mut r = text(StatusCode::OK, format!("Hello from {}\n", st.name));
        if let Ok(v) = HeaderValue::from_str(&st.name) {
            r.headers_mut().insert("x-served-by", v);
        }
        r
    };
    Ok(resp)
}

/// A body of `left` bytes sent in chunks, produced lazily so that memory stays flat whatever the size.
struct ChunkBody {
    left: u64,
    chunk: Bytes,
}

impl hyper::body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= n as u64;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}
