//! The logger thread. Workers format a line into a reused buffer and hand a copy to this thread through a
//! bounded channel; when the channel is full the line is dropped and counted, so a slow log destination never
//! slows the request path. The thread owns the sockets and the standard streams, frames each line per target
//! (`syslog.rs`) and writes it.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::syslog::{Dest, Target};

/// Lines waiting for the logger thread before new ones are dropped.
pub const QUEUE_LEN: usize = 16 * 1024;

/// Counters of the logger.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Lines queued by the workers.
    pub queued: AtomicU64,
    /// Lines dropped because the queue was full (or the logger was gone).
    pub dropped: AtomicU64,
    /// Frames that could not be written to a target.
    pub failed: AtomicU64,
}

/// One line for the logger thread.
pub struct Line {
    /// Which target list (index in the list given to [`spawn`]).
    pub set: u32,
    /// Syslog level.
    pub level: u8,
    /// When it was logged, microseconds since the epoch.
    pub us: i64,
    /// The message, without any framing.
    pub msg: Box<[u8]>,
}

enum Cmd {
    Line(Line),
    Stop,
}

/// The sending side, cloned into every frontend that logs.
#[derive(Clone)]
pub struct Sink {
    tx: SyncSender<Cmd>,
    stats: Arc<LogStats>,
}

impl Sink {
    /// Queues a line; drops and counts it when the queue is full.
    pub fn send(&self, set: u32, level: u8, us: i64, msg: &[u8]) {
        let line = Line {
            set,
            level,
            us,
            msg: msg.into(),
        };
        match self.tx.try_send(Cmd::Line(line)) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The logger's counters.
    pub fn stats(&self) -> &Arc<LogStats> {
        &self.stats
    }
}

/// The receiving side, until the thread is started.
pub struct Queue(Receiver<Cmd>);

/// A bounded queue of `capacity` lines.
pub fn channel(capacity: usize) -> (Sink, Queue) {
    let (tx, rx) = sync_channel(capacity);
    (
        Sink {
            tx,
            stats: Arc::new(LogStats::default()),
        },
        Queue(rx),
    )
}

/// The running logger thread.
pub struct Logger {
    tx: SyncSender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

impl Logger {
    /// Writes what is queued, then stops the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the logger thread for `sink`'s queue; `sets[i]` are the targets of lines sent with `set == i`.
pub fn spawn(sink: &Sink, queue: Queue, sets: Vec<Vec<Target>>, tag: String) -> io::Result<Logger> {
    let stats = sink.stats.clone();
    let thread = std::thread::Builder::new()
        .name("fulcrum-logger".into())
        .spawn(move || run(queue.0, sets, tag, &stats))?;
    Ok(Logger {
        tx: sink.tx.clone(),
        thread: Some(thread),
    })
}

/// Sockets and streams, opened on first use.
struct Outputs {
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Outputs {
    fn udp(&mut self, to: SocketAddr) -> io::Result<&UdpSocket> {
        let slot = if to.is_ipv4() {
            &mut self.udp4
        } else {
            &mut self.udp6
        };
        if slot.is_none() {
            let bind: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().expect("valid")
            } else {
                "[::]:0".parse().expect("valid")
            };
            *slot = Some(UdpSocket::bind(bind)?);
        }
        Ok(slot.as_ref().expect("just set"))
    }

    fn write(&mut self, dest: &Dest, frame: &[u8]) -> io::Result<()> {
        match dest {
            Dest::Stdout => self.stdout.extend_from_slice(frame),
            Dest::Stderr => self.stderr.extend_from_slice(frame),
            Dest::Udp(a) => {
                self.udp(*a)?.send_to(frame, a)?;
            }
            Dest::Unix(p) => {
                if self.unix.is_none() {
                    self.unix = Some(UnixDatagram::unbound()?);
                }
                self.unix.as_ref().expect("just set").send_to(frame, p)?;
            }
        }
        Ok(())
    }

    /// Writes the buffered stdout and stderr lines (whole lines only).
    fn flush(&mut self) {
        if !self.stdout.is_empty() {
            let _ = io::stdout().lock().write_all(&self.stdout);
            let _ = io::stdout().flush();
            self.stdout.clear();
        }
        if !self.stderr.is_empty() {
            let _ = io::stderr().lock().write_all(&self.stderr);
            self.stderr.clear();
        }
    }
}

/// Lines handled between two flushes of stdout/stderr.
const BATCH: usize = 256;

fn run(rx: Receiver<Cmd>, sets: Vec<Vec<Target>>, tag: String, stats: &LogStats) {
    let pid = std::process::id();
    let mut out = Outputs {
        udp4: None,
        udp6: None,
        unix: None,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let mut frame = Vec::with_capacity(2048);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(cmd) = next.take() {
            match cmd {
                Cmd::Stop => {
                    out.flush();
                    return;
                }
                Cmd::Line(line) => {
                    let targets = sets.get(line.set as usize).map_or(&[][..], |s| &s[..]);
                    for t in targets
                        .iter()
                        .filter(|t| t.accepts(line.level) && t.samples_next())
                    {
                        frame.clear();
                        t.frame(&tag, pid, line.level, line.us, &line.msg, &mut frame);
                        if out.write(&t.dest, &frame).is_err() {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            handled += 1;
            if handled < BATCH {
                next = rx.try_recv().ok();
            }
        }
        out.flush();
    }
    out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::syslog::DEFAULT_MAX_LEN;
    use fulcrum_config::haproxy::LogFormat as Framing;
    use std::time::{Duration, Instant};

    fn udp_target(addr: SocketAddr) -> Target {
        Target {
            dest: Dest::Udp(addr),
            framing: Framing::Raw,
            facility: 16,
            max_level: 7,
            min_level: 0,
            max_len: DEFAULT_MAX_LEN,
            sample: None,
        }
    }

    #[test]
    fn delivers_lines_and_drops_when_full() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (sink, queue) = channel(4);
        // Not started yet: 4 lines fit, the 5th is dropped and counted.
        for i in 0..5u8 {
            sink.send(0, 6, 0, &[b'a' + i]);
        }
        assert_eq!(sink.stats().queued.load(Ordering::Relaxed), 4);
        assert_eq!(sink.stats().dropped.load(Ordering::Relaxed), 1);
        let logger = spawn(
            &sink,
            queue,
            vec![vec![udp_target(rx.local_addr().unwrap())]],
            "t".into(),
        )
        .unwrap();
        let mut buf = [0u8; 64];
        for want in [b"a\n", b"b\n", b"c\n", b"d\n"] {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
        // A line for an unknown target list goes nowhere, without harm.
        sink.send(9, 6, 0, b"x");
        logger.shutdown();
    }

    /// Lines per second through the queue and the logger thread to a UDP socket (run with --ignored
    /// --nocapture; a reader thread drains the socket).
    #[test]
    fn delivers_to_a_unix_datagram_socket() {
        let path = std::env::temp_dir().join(format!("fulcrum-log-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (sink, queue) = channel(16);
        let target = Target {
            dest: Dest::Unix(path.clone()),
            framing: Framing::Short,
            ..udp_target("127.0.0.1:1".parse().unwrap())
        };
        let logger = spawn(&sink, queue, vec![vec![target]], "t".into()).unwrap();
        sink.send(0, 6, 0, b"hello");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        // short framing, as HAProxy 2.6 writes it: the level alone (info = 6), no facility.
        assert_eq!(&buf[..n], b"<6>hello\n");
        logger.shutdown();
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    #[ignore]
    fn throughput() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let addr = rx.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut n = 0u64;
            while rx.recv(&mut buf).is_ok() {
                n += 1;
            }
            n
        });
        let (sink, queue) = channel(QUEUE_LEN);
        let logger = spawn(&sink, queue, vec![vec![udp_target(addr)]], "t".into()).unwrap();
        let line = b"127.0.0.1:50404 [24/Nov/2026:21:49:47.795] app app/s1 0/0/0/2/4 200 151 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"";
        let total = 500_000u64;
        let start = Instant::now();
        for _ in 0..total {
            // Blocking send: measures what the logger thread sustains, without drops.
            let msg = Line {
                set: 0,
                level: 6,
                us: 1_795_556_987_795_000,
                msg: line[..].into(),
            };
            sink.tx.send(Cmd::Line(msg)).unwrap();
        }
        logger.shutdown();
        let secs = start.elapsed().as_secs_f64();
        let received = reader.join().unwrap();
        eprintln!(
            "logger thread: {total} lines in {secs:.3}s = {:.0} lines/s ({received} datagrams received)",
            total as f64 / secs
        );
        // The worker side: rendering the httplog line and queuing it (the queue drained by nobody: drops).
        let f = crate::log::format::default_httplog();
        let fields = crate::log::Fields {
            client: Some("127.0.0.1:50404".parse().unwrap()),
            request: Some(b"GET / HTTP/1.1"),
            ..crate::log::Fields::default()
        };
        let (sink, _queue) = channel(QUEUE_LEN);
        let mut buf = Vec::with_capacity(1024);
        let start = Instant::now();
        for _ in 0..total {
            buf.clear();
            f.render(&fields, &mut buf);
            sink.send(0, 6, 0, &buf);
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "worker side (render + queue): {:.0} ns per line",
            secs * 1e9 / total as f64
        );
    }
}
