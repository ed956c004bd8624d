//! A small HTTP endpoint for Prometheus metrics, for the jobs that have no HTTP server of their own: the VRRP
//! daemon (`fulcrum_metrics_listen` in keepalived.conf) and `fulcrum ipvsadm --metrics`.
//!
//! One thread of its own answers `GET /metrics` with the page its owner last published (they publish about once a
//! second), so no scrape ever waits on the owner's loop and the loop never waits on a scrape. Connections are served one at a time, each bounded by a 2 s timeout and an 8 KiB request head: this is
//! an operator's endpoint, not a public one. Other paths get 404, other methods 405.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running endpoint; dropping it stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    page: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and starts answering (with an empty page until [`MetricsServer::publish`]).
    pub fn start(addr: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let bound = listener.local_addr()?;
        let page = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (page.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("vrrp-metrics".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let _ = serve(c, &p);
                    }
                }
            })?;
        Ok(MetricsServer {
            addr: bound,
            page,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the page.
    pub fn publish(&self, text: String) {
        if let Ok(mut p) = self.page.lock() {
            *p = text;
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head and answers it.
fn serve(mut c: TcpStream, page: &Mutex<String>) -> io::Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    c.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            return respond(
                &mut c,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            );
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => {
            let body = page.lock().map(|p| p.clone()).unwrap_or_default();
            let body = if method == b"HEAD" {
                String::new()
            } else {
                body
            };
            respond(
                &mut c,
                "200 OK",
                crate::prometheus::CONTENT_TYPE,
                body.as_bytes(),
            )
        }
        (b"GET" | b"HEAD", _) => respond(
            &mut c,
            "404 Not Found",
            "text/plain",
            b"not found: try /metrics\n",
        ),
        _ => respond(&mut c, "405 Method Not Allowed", "text/plain", b""),
    }
}

fn respond(c: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes())?;
    c.write_all(body)?;
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_published_page() {
        let s = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        s.publish("keepalived_up 1\n".into());
        let r = get(s.addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Length: 16\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nkeepalived_up 1\n"), "{r}");
        let r = get(s.addr(), "GET / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = get(s.addr(), "POST /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        let addr = s.addr();
        drop(s);
        assert!(
            TcpStream::connect(addr).is_err(),
            "still listening after drop"
        );
    }
}
