//! A syslog sink on loopback UDP that collects the datagrams a proxy sends, for comparing log lines.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects the datagrams sent to a UDP socket on 127.0.0.1 (for at most a minute: a test never lasts longer).
pub struct Syslog {
    pub addr: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Syslog {
    pub fn start() -> Syslog {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until && Arc::strong_count(&l) > 1 {
                if let Ok(n) = sock.recv(&mut buf) {
                    l.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        Syslog { addr, lines }
    }

    /// The frames received so far.
    pub fn frames(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The messages received so far: each frame after its RFC 3164 header (`<PRI>date tag[pid]: `).
    pub fn messages(&self) -> Vec<String> {
        self.frames()
            .iter()
            .map(|f| {
                f.split_once("]: ")
                    .map_or(&f[..], |(_, m)| m)
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    /// Waits until `n` messages that `keep` accepts arrived (or 5 s passed), then a little more to catch extra
    /// ones; returns those messages.
    pub fn wait_messages(&self, n: usize, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let kept = || -> Vec<String> { self.messages().into_iter().filter(|m| keep(m)).collect() };
        super::wait_until(Duration::from_secs(5), || kept().len() >= n);
        std::thread::sleep(Duration::from_millis(150));
        kept()
    }

    /// Waits until `n` frames arrived (or 5 s passed), then a little more to catch extra ones.
    pub fn wait(&self, n: usize) -> Vec<String> {
        super::wait_until(Duration::from_secs(5), || {
            self.lines.lock().unwrap().len() >= n
        });
        std::thread::sleep(Duration::from_millis(150));
        self.frames()
    }
}
