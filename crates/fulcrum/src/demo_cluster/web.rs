//! The cluster's web servers and its client: threads of this process, each inside a host's network namespace.
//!
//! A web server answers every request with `served by NAME` and an `X-Request-From` header naming the address
//! the request came from, which is the director that forwarded it: the client tells lb1 from lb2 by it.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::topology::enter_netns;

/// The header naming the address a request came from.
const FROM_HEADER: &str = "x-request-from";
/// How long a thread gets to enter its namespace and get going.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A tiny HTTP/1.1 server on port 80 of a namespace, run by a thread of this process; stopping it closes its
/// listener, so that connections to it are refused.
pub struct WebServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Starts serving as `name` on `0.0.0.0:port` in namespace `ns`; returns once it listens.
    pub fn start(ns: &str, name: &str, port: u16) -> Result<WebServer> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let ns_owned = ns.to_string();
        let body = format!("served by {name}\n");
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("demo-{name}"))
            .spawn(move || {
                let listener = enter_netns(&ns_owned).and_then(|()| {
                    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
                        .with_context(|| format!("listening on port {port}"))?;
                    l.set_nonblocking(true)?;
                    Ok(l)
                });
                let listener = match listener {
                    Ok(l) => {
                        let _ = ready_tx.send(Ok(()));
                        l
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while !stopping.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, peer)) => serve(conn, peer, &body),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .context("starting a web server thread")?;
        let server = WebServer {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => Err(e.context(format!("web server {name}"))),
            Err(_) => bail!("web server {name} did not start within {START_TIMEOUT:?}"),
        }
    }

    /// Closes the listener and ends the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Answers one connection: reads the request head (a connection closed without one, as a health check's, gets
/// nothing), then answers and closes.
fn serve(mut conn: TcpStream, peer: SocketAddr, body: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Request-From: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len(),
        peer.ip()
    );
    let _ = conn.write_all(reply.as_bytes());
    let _ = conn.shutdown(std::net::Shutdown::Write);
}

/// An answer to the client.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The body, trimmed.
    pub body: String,
    /// The address the web server saw the request come from (the director), when a web server answered.
    pub from: Option<IpAddr>,
}

struct Job {
    to: SocketAddr,
    connect: Duration,
    read: Duration,
    reply: Sender<Result<Reply>>,
}

/// An HTTP client in a namespace: a thread there making the requests asked of it, one at a time.
pub struct Client {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// Starts the client's thread in namespace `ns`.
    pub fn start(ns: &str) -> Result<Client> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let ns_owned = ns.to_string();
        let thread = std::thread::Builder::new()
            .name("demo-client".into())
            .spawn(move || {
                let entered = enter_netns(&ns_owned);
                let failed = entered.is_err();
                let _ = ready_tx.send(entered);
                if failed {
                    return;
                }
                for job in jobs_rx {
                    let _ = job.reply.send(get(job.to, job.connect, job.read));
                }
            })
            .context("starting the client thread")?;
        let client = Client {
            jobs: Some(jobs_tx),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e.context("the client")),
            Err(_) => bail!("the client did not start within {START_TIMEOUT:?}"),
        }
    }

    /// `GET /` from `to`, connecting within `connect` and answered within `read`.
    pub fn get(&self, to: SocketAddr, connect: Duration, read: Duration) -> Result<Reply> {
        let (tx, rx) = mpsc::channel();
        let job = Job {
            to,
            connect,
            read,
            reply: tx,
        };
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| anyhow!("the client thread is gone"))?;
        // Its own timeouts bound the request; this bounds the wait for the thread.
        match rx.recv_timeout(connect + read + Duration::from_secs(2)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => bail!("the client thread does not answer"),
            Err(RecvTimeoutError::Disconnected) => bail!("the client thread is gone"),
        }
    }

    /// Ends the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.halt();
    }
}

fn get(to: SocketAddr, connect: Duration, read: Duration) -> Result<Reply> {
    let mut s = TcpStream::connect_timeout(&to, connect).map_err(|e| {
        if e.kind() == ErrorKind::TimedOut {
            anyhow!("no connection within {} ms", connect.as_millis())
        } else {
            anyhow!("connect: {e}")
        }
    })?;
    s.set_read_timeout(Some(read))?;
    s.set_write_timeout(Some(read))?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: fulcrum-demo\r\nConnection: close\r\n\r\n",
        to.ip()
    )?;
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        if raw.is_empty() {
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                bail!("no answer within {} ms", read.as_millis());
            }
            bail!("reading the answer: {e}");
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            if raw.is_empty() {
                anyhow!("the connection was closed without an answer")
            } else {
                anyhow!("not an HTTP answer")
            }
        })?;
    let from = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(FROM_HEADER))
        .and_then(|(_, v)| v.trim().parse().ok());
    Ok(Reply {
        status,
        body: body.trim().to_string(),
        from,
    })
}
