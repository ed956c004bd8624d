//! The cluster page of `fulcrum demo --cluster`: one thread per director, inside its namespace, reads the
//! director's two metrics endpoints on its loopback every second (the VRRP job's `fulcrum_metrics_listen`, the
//! proxy's prometheus-exporter); one thread serves the page they make (`fulcrum_admin::cluster_page`) at
//! `http://127.0.0.1:8098/` on this host. The walk-through prints what the page shows at each step.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fulcrum_admin::cluster_page::{self, DirectorInput, DirectorView};

use super::topology::enter_netns;
use super::Host;

/// Where each director's VRRP job serves its metrics (the demo adds `fulcrum_metrics_listen` for it).
pub const VRRP_METRICS_PORT: u16 = 9650;
/// Where each director's proxy serves its metrics (the demo adds a `frontend metrics` for it).
pub const PROXY_METRICS_PORT: u16 = 8405;
/// The page's port on this host, when it is free (else any free port).
const PAGE_PORT: u16 = 8098;
/// How often the directors are read, and the page reloads itself.
const PERIOD: Duration = Duration::from_secs(1);
const REFRESH_S: u32 = 2;

/// What was last read from one director: each endpoint's page, or why not.
#[derive(Clone)]
struct Reading {
    vrrp: Result<String, String>,
    proxy: Result<String, String>,
    /// The proxy's page about [`WINDOW`] earlier, and how many seconds earlier: the page shows the requests
    /// served between.
    proxy_before: Option<(String, f64)>,
}

/// How far back the request rates and latencies on the page reach.
const WINDOW: Duration = Duration::from_secs(10);

/// The running page: its readers and its server; dropping it stops them all.
pub struct ClusterPage {
    url: String,
    hosts: Vec<Host>,
    readings: Arc<Mutex<Vec<Reading>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// `GET http://127.0.0.1:PORT/metrics` on this thread's loopback.
fn fetch(port: u16) -> Result<String, String> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = c.set_write_timeout(Some(Duration::from_secs(1)));
    c.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut raw = Vec::new();
    c.take(4 << 20)
        .read_to_end(&mut raw)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(format!("{addr}: no answer"));
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("{addr}: {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_string())
}

impl ClusterPage {
    /// Starts reading `hosts` (each in namespace `ns(role)`) and serving the page.
    pub fn start(hosts: &[Host], ns: impl Fn(&str) -> String) -> Result<ClusterPage> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, PAGE_PORT))
            .or_else(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .context("listening for the cluster page")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/", listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let not_yet = Reading {
            vrrp: Err("not read yet".into()),
            proxy: Err("not read yet".into()),
            proxy_before: None,
        };
        let readings = Arc::new(Mutex::new(vec![not_yet; hosts.len()]));
        let mut threads = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let (ns, stop, readings) = (ns(h.role), stop.clone(), readings.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("demo-page-{}", h.role))
                    .spawn(move || {
                        if let Err(e) = enter_netns(&ns) {
                            let why = format!("{e:#}");
                            if let Ok(mut r) = readings.lock() {
                                r[i] = Reading {
                                    vrrp: Err(why.clone()),
                                    proxy: Err(why),
                                    proxy_before: None,
                                };
                            }
                            return;
                        }
                        // The proxy's pages of the last WINDOW, oldest first.
                        let mut history: std::collections::VecDeque<(Instant, String)> =
                            std::collections::VecDeque::new();
                        while !stop.load(Ordering::SeqCst) {
                            let started = Instant::now();
                            let proxy = fetch(PROXY_METRICS_PORT);
                            if let Ok(page) = &proxy {
                                history.push_back((started, page.clone()));
                                while history.len() > 2
                                    && history.get(1).is_some_and(|(t, _)| started - *t >= WINDOW)
                                {
                                    history.pop_front();
                                }
                            }
                            let proxy_before = history
                                .front()
                                .filter(|(t, _)| *t < started)
                                .map(|(t, p)| (p.clone(), (started - *t).as_secs_f64()));
                            let reading = Reading {
                                vrrp: fetch(VRRP_METRICS_PORT),
                                proxy,
                                proxy_before,
                            };
                            if let Ok(mut r) = readings.lock() {
                                r[i] = reading;
                            }
                            while started.elapsed() < PERIOD && !stop.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    })?,
            );
        }
        let page = ClusterPage {
            url,
            hosts: hosts.to_vec(),
            readings,
            stop,
            threads,
        };
        let (stop, hosts, readings) =
            (page.stop.clone(), page.hosts.clone(), page.readings.clone());
        let mut page = page;
        page.threads
            .push(
                std::thread::Builder::new()
                    .name("demo-page".into())
                    .spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            match listener.accept() {
                                Ok((c, _)) => {
                                    let _ = serve(c, &hosts, &readings);
                                }
                                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                                Err(_) => std::thread::sleep(Duration::from_millis(20)),
                            }
                        }
                    })?,
            );
        Ok(page)
    }

    /// The page's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the page shows of each director now.
    pub fn views(&self) -> Vec<DirectorView> {
        views(&self.hosts, &self.readings)
    }

    /// One line per director, as [`cluster_page::summary`] writes it.
    pub fn summaries(&self) -> Vec<String> {
        self.views().iter().map(cluster_page::summary).collect()
    }

    /// Waits up to `within` for the directors' lines to satisfy `ok`; returns the last lines and whether they did.
    pub fn wait_for(
        &self,
        within: Duration,
        ok: impl Fn(&[String]) -> bool,
    ) -> (Vec<String>, bool) {
        let end = Instant::now() + within;
        loop {
            let lines = self.summaries();
            if ok(&lines) {
                return (lines, true);
            }
            if Instant::now() >= end || self.stop.load(Ordering::SeqCst) {
                return (lines, false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ClusterPage {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn views(hosts: &[Host], readings: &Mutex<Vec<Reading>>) -> Vec<DirectorView> {
    let readings = readings.lock().map(|r| r.clone()).unwrap_or_default();
    hosts
        .iter()
        .zip(&readings)
        .map(|(h, r)| {
            let addr = h.addr.to_string();
            cluster_page::view(&DirectorInput {
                name: h.role,
                addr: &addr,
                vrrp: r.vrrp.as_deref().map_err(String::as_str),
                proxy: r.proxy.as_deref().map_err(String::as_str),
                proxy_before: r.proxy_before.as_ref().map(|(p, over)| (p.as_str(), *over)),
            })
        })
        .collect()
}

/// Answers one request: the page at `/`, 404 elsewhere.
fn serve(mut c: TcpStream, hosts: &[Host], readings: &Mutex<Vec<Reading>>) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    c.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = c.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if target == "/" || target == "/index.html" {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        (
            "200 OK",
            cluster_page::render(&views(hosts, readings), now, REFRESH_S),
        )
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let ctype = if status.starts_with("200") {
        "text/html; charset=utf-8"
    } else {
        "text/plain"
    };
    write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}
