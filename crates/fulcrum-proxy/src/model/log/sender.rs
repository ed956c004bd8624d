//! The logger thread. Workers format a line into a reused buffer and hand a copy to this thread through a
//! bounded channel; when the channel is full the line is dropped and counted, so a slow log destination never
//! slows the request path. The thread owns the sockets and the standard streams, frames each line per target
//! (`syslog.rs`) and writes it.
//!
//! # Targets that cannot be reached
//!
//! A frame that cannot be written (no socket at a unix path, nobody listening on it, no route, a socket that
//! cannot be opened) is lost: it is counted in [`LogStats::failed`] and the logger thread says so on stderr in
//! HAProxy's words, `[ALERT]    (PID) : sendmsg()/writev() failed in logger #N: No such file or directory
//! (errno=2)`, where N is the target's position (from 1) in the list of the proxy whose line failed: the
//! `global` lines first when the proxy has `log global`, then its own.
//!
//! HAProxy 2.6 (observed, and so it reads) alerts once in the life of the process, for the first logger that
//! fails, and never again, neither for that logger nor for another one; it counts none of those lines in
//! `DroppedLogs`, which counts only lines refused because the socket's buffer was full (`EAGAIN`). fulcrum
//! alerts the first time each destination fails with exactly that text, then at most once per
//! [`ALERT_INTERVAL`] while it keeps failing, adding how many lines were lost since the previous alert and in
//! all ([`AlertLimit`]); and `DroppedLogs` (and `haproxy_process_dropped_logs_total`) is [`LogStats::lost`]:
//! the lines dropped at the queue plus the frames lost at a target. An unconnected UDP socket learns nothing
//! of a port where nobody listens, so such lines are not seen as lost, as in HAProxy.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// Frames that could not be written to a target (one per line and target that failed).
    pub failed: AtomicU64,
}

impl LogStats {
    /// Log lines lost so far: dropped at the queue, or not delivered to a target (`DroppedLogs`).
    pub fn lost(&self) -> u64 {
        self.dropped
            .load(Ordering::Relaxed)
            .saturating_add(self.failed.load(Ordering::Relaxed))
    }
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

/// How long the logger thread lets lines gather after a batch before it looks at the queue again.
const PACE: Duration = Duration::from_millis(2);

/// The shortest time between two alerts about the same failing log destination.
pub const ALERT_INTERVAL: Duration = Duration::from_secs(60);

/// The alerts about one failing destination: the first failure is reported at once, later ones at most once per
/// interval, each report carrying the number of failures left unreported since the previous one.
#[derive(Debug)]
pub struct AlertLimit {
    interval: Duration,
    last: Option<Instant>,
    unreported: u64,
}

impl AlertLimit {
    /// No failure yet; alerts at least `interval` apart.
    pub fn new(interval: Duration) -> AlertLimit {
        AlertLimit {
            interval,
            last: None,
            unreported: 0,
        }
    }

    /// Records a failure at `now`: `Some(n)` when it is to be reported, `n` failures having gone unreported
    /// since the previous report; `None` when it is too soon.
    pub fn failure(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.unreported = self.unreported.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unreported))
            }
        }
    }
}

/// What the logger thread knows of the destinations that failed.
struct Failures {
    interval: Duration,
    pid: u32,
    by_dest: HashMap<Dest, (AlertLimit, u64)>,
}

impl Failures {
    fn new(interval: Duration, pid: u32) -> Failures {
        Failures {
            interval,
            pid,
            by_dest: HashMap::new(),
        }
    }

    /// Counts a frame lost at `dest`, logger number `nblogger` (from 1) of its list, at `now`; returns the alert
    /// to write, if one is due.
    fn record(
        &mut self,
        dest: &Dest,
        nblogger: usize,
        err: &io::Error,
        now: Instant,
    ) -> Option<String> {
        let interval = self.interval;
        let (limit, lost) = self
            .by_dest
            .entry(dest.clone())
            .or_insert_with(|| (AlertLimit::new(interval), 0));
        *lost = lost.saturating_add(1);
        let unreported = limit.failure(now)?;
        let errno = err.raw_os_error().unwrap_or(0);
        let text = match err.raw_os_error() {
            Some(n) => os_error_text(n),
            None => err.to_string(),
        };
        let mut alert = format!(
            "[ALERT]    ({}) : sendmsg()/writev() failed in logger #{nblogger}: {text} (errno={errno})",
            self.pid
        );
        if *lost > 1 {
            alert.push_str(&format!(
                "; {unreported} more log lines lost at this address since the previous alert, {lost} in all"
            ));
        }
        alert.push('\n');
        Some(alert)
    }
}

/// The C library's message for `errno` (what `strerror` says, without Rust's ` (os error N)`).
fn os_error_text(errno: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the XSI strerror_r writes a NUL-terminated string into it.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if rc != 0 || end == 0 {
        return format!("Unknown error {errno}");
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Writes an alert to the process's stderr (best effort: a closed stderr loses it).
fn alert(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

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
    let mut failures = Failures::new(ALERT_INTERVAL, pid);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut handled = 0;
        loop {
            let Some(cmd) = next.take() else {
                out.flush();
                // Lines are coming: let the next ones gather for a moment rather than have each worker wake
                // this thread for each line (a futex wake and two context switches per request, a fifth of the
                // proxy's CPU time when everything runs on one CPU). Only when the queue stayed empty does the
                // thread block again, so an idle proxy costs nothing and a lone line waits at most `PACE`.
                std::thread::sleep(PACE);
                match rx.try_recv() {
                    Ok(cmd) => {
                        next = Some(cmd);
                        handled = 0;
                        continue;
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                }
            };
            match cmd {
                Cmd::Stop => {
                    out.flush();
                    return;
                }
                Cmd::Line(line) => {
                    let targets = sets.get(line.set as usize).map_or(&[][..], |s| &s[..]);
                    // Loggers are numbered by their position in the list, whether they take the line or not.
                    for (i, t) in targets.iter().enumerate() {
                        if !(t.accepts(line.level) && t.samples_next()) {
                            continue;
                        }
                        frame.clear();
                        t.frame(&tag, pid, line.level, line.us, &line.msg, &mut frame);
                        if let Err(e) = out.write(&t.dest, &frame) {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                            if let Some(text) = failures.record(&t.dest, i + 1, &e, Instant::now())
                            {
                                alert(&text);
                            }
                        }
                    }
                }
            }
            handled += 1;
            if handled == BATCH {
                out.flush();
                handled = 0;
            }
            next = rx.try_recv().ok();
        }
    }
    out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::log::syslog::DEFAULT_MAX_LEN;
    use fulcrum_config::haproxy::LogFormat as Framing;

    fn udp_target(addr: SocketAddr) -> Target {
        Target {
            dest: Dest::Udp(addr),
            framing: Framing::Raw,
            facility: 16,
            max_level: 7,
            min_level: 0,
            max_len: DEFAULT_MAX_LEN,
            sample: None,
            tag: None,
            host: None,
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

    #[test]
    fn alert_limit_reports_the_first_failure_then_once_per_interval() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut l = AlertLimit::new(Duration::from_secs(60));
        assert_eq!(l.failure(at(0)), Some(0));
        assert_eq!(l.failure(at(0)), None);
        assert_eq!(l.failure(at(1)), None);
        assert_eq!(l.failure(at(59)), None);
        // 60 s after the last report: reported, with the 3 failures kept quiet since.
        assert_eq!(l.failure(at(60)), Some(3));
        assert_eq!(l.failure(at(119)), None);
        // A failure long after the last one is reported at once.
        assert_eq!(l.failure(at(1000)), Some(1));
        assert_eq!(l.failure(at(1000)), None);
        // A clock seen going backwards does not report.
        assert_eq!(l.failure(at(10)), None);
        assert_eq!(l.failure(at(1060)), Some(2));
    }

    #[test]
    fn failures_alert_in_haproxy_words_per_destination() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut f = Failures::new(Duration::from_secs(60), 4242);
        let dev_log = Dest::Unix("/dev/nonexistent-log".into());
        let refused = Dest::Unix("/tmp/refused.sock".into());
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        let econnrefused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            f.record(&dev_log, 2, &enoent, at(0)).as_deref(),
            Some("[ALERT]    (4242) : sendmsg()/writev() failed in logger #2: No such file or directory (errno=2)\n")
        );
        assert_eq!(f.record(&dev_log, 2, &enoent, at(1)), None);
        // Another destination has its own first alert.
        assert_eq!(
            f.record(&refused, 3, &econnrefused, at(2)).as_deref(),
            Some("[ALERT]    (4242) : sendmsg()/writev() failed in logger #3: Connection refused (errno=111)\n")
        );
        assert_eq!(f.record(&dev_log, 1, &enoent, at(30)), None);
        assert_eq!(
            f.record(&dev_log, 2, &enoent, at(61)).as_deref(),
            Some("[ALERT]    (4242) : sendmsg()/writev() failed in logger #2: No such file or directory (errno=2); 2 more log lines lost at this address since the previous alert, 4 in all\n")
        );
        // An error without an errno (none here comes from the OS).
        let other = io::Error::new(io::ErrorKind::InvalidInput, "path too long");
        let long = Dest::Unix("/x".into());
        assert_eq!(
            f.record(&long, 1, &other, at(62)).as_deref(),
            Some("[ALERT]    (4242) : sendmsg()/writev() failed in logger #1: path too long (errno=0)\n")
        );
    }

    #[test]
    fn os_error_text_is_strerror() {
        assert_eq!(os_error_text(libc::ENOENT), "No such file or directory");
        assert_eq!(
            os_error_text(libc::EAFNOSUPPORT),
            "Address family not supported by protocol"
        );
    }

    #[test]
    fn lines_lost_at_an_unreachable_target_are_counted_and_others_delivered() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let missing =
            std::env::temp_dir().join(format!("fulcrum-log-missing-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&missing);
        let (sink, queue) = channel(64);
        let unreachable = Target {
            dest: Dest::Unix(missing),
            ..udp_target("127.0.0.1:1".parse().unwrap())
        };
        let logger = spawn(
            &sink,
            queue,
            vec![vec![unreachable, udp_target(rx.local_addr().unwrap())]],
            "t".into(),
        )
        .unwrap();
        for i in 0..10u8 {
            sink.send(0, 6, 0, &[b'a' + i]);
        }
        let mut buf = [0u8; 64];
        for i in 0..10u8 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[b'a' + i, b'\n']);
        }
        logger.shutdown();
        let stats = sink.stats();
        assert_eq!(stats.failed.load(Ordering::Relaxed), 10);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(stats.lost(), 10);
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
        let f = crate::model::log::format::default_httplog();
        let fields = crate::model::log::Fields {
            client: Some("127.0.0.1:50404".parse().unwrap()),
            request: Some(b"GET / HTTP/1.1"),
            ..crate::model::log::Fields::default()
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
