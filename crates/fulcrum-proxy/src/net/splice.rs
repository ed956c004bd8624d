//! mode tcp without copies: bytes go socket -> pipe -> socket through splice(2) and never enter user space.
//!
//! Each direction is a small pump driven by tokio's readiness on the two sockets: when the source is readable it
//! splices what it can into an empty pipe, then splices the pipe out to the destination until it is empty, and only
//! then reads again. EOF from the source, once the pipe is drained, becomes `shutdown(SHUT_WR)` on the destination
//! while the other direction goes on (half-close), exactly as [`crate::net::relay::splice_bidirectional`] does.
//!
//! Pipes come from a small per-thread pool and go back to it whenever a pump waits for its source, so a quiet
//! connection holds no pipe. A pipe that still holds bytes is closed, never pooled.
//!
//! Fallbacks: when the kernel refuses splice on a socket (EINVAL, ENOSYS, ...) that direction switches for good to a
//! user-space buffer on the same readiness loop; when no pipe can be had (descriptor limit) one chunk goes through
//! the buffer; and a source stopped at a TCP urgent mark (where splice returns EAGAIN although bytes wait, or 0
//! when the FIN came in behind them) is read past the mark with recv(2).

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::net::pipes::{pool_give, pool_take, Pipe, PIPE_SIZE};
use crate::net::relay::SpliceEnd;

/// Size of the user-space buffer used by the fallbacks.
const COPY_BUF: usize = 64 * 1024;

/// Moves bytes both ways between two TCP sockets until both directions ended, one side failed, or nothing moved for
/// `idle`. In the result, `a_to_b` counts the bytes read from `a` and `a_failed` blames `a`.
pub async fn bidirectional(a: &TcpStream, b: &TcpStream, idle: Option<Duration>) -> SpliceEnd {
    let mode = if sigpipe_is_harmless() {
        Mode::Splice
    } else {
        Mode::Copy
    };
    run(a, b, idle, mode).await
}

/// The same through a user-space buffer only (the global `nosplice`).
pub async fn copy_bidirectional(a: &TcpStream, b: &TcpStream, idle: Option<Duration>) -> SpliceEnd {
    run(a, b, idle, Mode::Copy).await
}

/// Whether [`exact`] may be used: splice(2) into a socket raises SIGPIPE, which must not kill the process.
pub fn available() -> bool {
    sigpipe_is_harmless()
}

/// Why [`exact`] stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactError {
    /// The source closed, or reading from it failed, before all the bytes came.
    Src,
    /// Writing to the destination failed.
    Dst,
    /// Nothing came from the source within its idle time.
    SrcTimeout,
    /// The destination took nothing within its idle time.
    DstTimeout,
}

/// Moves exactly `len` bytes from `src` to `dst` through a pipe (an HTTP body of known length, whose connection
/// carries more after it), or with `len` `None` everything until `src` closes (a body that ends with its
/// connection), copying through user space only where the kernel refuses splice(2).
///
/// `read_cap` is asked before each read for the most bytes it may take (what `dst` can accept now, so that a
/// destination that stops reading leaves the bytes in `src`'s socket rather than in a pipe); `wrote` is told of
/// every byte written. `src_idle` bounds each wait for the source, `dst_idle` each wait for the destination.
pub async fn exact(
    src: &TcpStream,
    dst: &TcpStream,
    len: Option<u64>,
    (src_idle, dst_idle): (Option<Duration>, Option<Duration>),
    mut read_cap: impl FnMut() -> usize,
    mut wrote: impl FnMut(usize),
) -> Result<(), ExactError> {
    let clock = Clock::new(false);
    let mut body = ExactPump::new(len);
    loop {
        let pending = body.pump.pending();
        if pending > 0 {
            let at_once = now(|cx| body.pump.poll_drain(cx, dst, &clock)).await;
            let drained = match at_once {
                Some(r) => r,
                None => {
                    body.park()?;
                    within(dst_idle, |cx| body.pump.poll_drain(cx, dst, &clock)).await
                }
            };
            wrote(pending - body.pump.pending());
            drained.map_err(|e| e.map_or(ExactError::DstTimeout, |_| ExactError::Dst))?;
        } else if body.left == Some(0) {
            return Ok(());
        } else {
            body.cap(read_cap());
            within(src_idle, |cx| body.pump.poll_fill(cx, src, &clock))
                .await
                .map_err(|e| e.map_or(ExactError::SrcTimeout, |_| ExactError::Src))?;
            if body.filled()? {
                return Ok(());
            }
        }
    }
}

/// A body moved from one socket to another through a pipe, as [`exact`] moves it, but polled by a task that waits
/// for other things at the same time (a request body spliced to a server while its response head is awaited),
/// and with no timeouts of its own.
pub struct ExactPump {
    pump: Pump,
    /// The bytes still to read from the source; `None`: until it closes.
    left: Option<u64>,
}

impl ExactPump {
    /// A transfer of `len` bytes (`None`: until the source closes).
    pub fn new(len: Option<u64>) -> Self {
        ExactPump {
            pump: Pump::new(Mode::Splice),
            left: len,
        }
    }

    /// Bounds the next read by what the body has left and by `cap`.
    fn cap(&mut self, cap: usize) {
        let left = self
            .left
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        self.pump.cap = left.min(cap.max(1));
    }

    /// Accounts for a read that just completed; true when the body has ended with its source's close.
    fn filled(&mut self) -> Result<bool, ExactError> {
        match (self.pump.eof, &mut self.left) {
            (true, None) => Ok(true),
            (true, Some(_)) => Err(ExactError::Src),
            (false, Some(left)) => {
                *left -= self.pump.pending() as u64;
                Ok(false)
            }
            (false, None) => Ok(false),
        }
    }

    /// The destination takes no more for now. What the pipe holds waits in user memory instead, so that a slow
    /// reader keeps no pipe (two descriptors) for as long as it dawdles. A pipe that cannot be read back (it
    /// cannot happen short of a kernel fault) ends the transfer as a failed write would.
    fn park(&mut self) -> Result<(), ExactError> {
        if self.pump.in_pipe > 0 && self.pump.unload_pipe().is_err() {
            return Err(ExactError::Dst);
        }
        Ok(())
    }

    /// Moves bytes until the whole body went (ready, `Ok`), a side failed (ready, `Err`), or neither side can go
    /// on now (pending). `wrote` is told of every byte written to `dst`.
    pub fn poll_move(
        &mut self,
        cx: &mut Context<'_>,
        src: &TcpStream,
        dst: &TcpStream,
        mut wrote: impl FnMut(usize),
    ) -> Poll<Result<(), ExactError>> {
        let clock = Clock::new(false);
        loop {
            let pending = self.pump.pending();
            if pending > 0 {
                let drained = self.pump.poll_drain(cx, dst, &clock);
                wrote(pending - self.pump.pending());
                match drained {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(ExactError::Dst)),
                    Poll::Pending => {
                        self.park()?;
                        return Poll::Pending;
                    }
                }
            } else if self.left == Some(0) {
                return Poll::Ready(Ok(()));
            } else {
                self.cap(PIPE_SIZE);
                if ready!(self.pump.poll_fill(cx, src, &clock)).is_err() {
                    return Poll::Ready(Err(ExactError::Src));
                }
                if self.filled()? {
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

/// Polls `step` once: its result if it is ready now.
async fn now(
    mut step: impl FnMut(&mut Context<'_>) -> Poll<Result<(), Failed>>,
) -> Option<Result<(), Option<Failed>>> {
    match poll_fn(|cx| Poll::Ready(step(cx))).await {
        Poll::Ready(r) => Some(r.map_err(Some)),
        Poll::Pending => None,
    }
}

/// Polls `step` to its end, giving up (`Err(None)`) when it stays pending for `idle`; the timer is only armed
/// when the first poll finds nothing to do.
async fn within(
    idle: Option<Duration>,
    mut step: impl FnMut(&mut Context<'_>) -> Poll<Result<(), Failed>>,
) -> Result<(), Option<Failed>> {
    if let Some(r) = now(&mut step).await {
        return r;
    }
    let rest = poll_fn(|cx| step(cx));
    match idle {
        Some(t) => tokio::time::timeout(t, rest).await.map_err(|_| None)?,
        None => rest.await,
    }
    .map_err(Some)
}

/// Whether a write to a broken socket may raise SIGPIPE without killing the process. Unlike send(2) with
/// MSG_NOSIGNAL (what the copy path uses), splice(2) into a socket raises SIGPIPE, so splicing is only used when the
/// signal is ignored or handled, as it is in every Rust program unless it opts out. Checked once.
fn sigpipe_is_harmless() -> bool {
    static HARMLESS: OnceLock<bool> = OnceLock::new();
    *HARMLESS.get_or_init(|| {
        // SAFETY: sigaction is a plain C struct for which all zeroes is a valid value.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: with a null new action, sigaction only reads the current one into `current`.
        let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current) };
        let harmless = rc == 0 && current.sa_sigaction != libc::SIG_DFL;
        if !harmless {
            debug!("SIGPIPE is not ignored: mode tcp copies instead of splicing");
        }
        harmless
    })
}

/// [`bidirectional`] with the starting mode of both pumps chosen (the tests force the copy fallback with it).
async fn run(a: &TcpStream, b: &TcpStream, idle: Option<Duration>, mode: Mode) -> SpliceEnd {
    let clock = Clock::new(idle.is_some());
    let mut ab = Pump::new(mode);
    let mut ba = Pump::new(mode);
    let mut failed = None;
    let mut timed_out = false;
    let mut a_first = false;
    {
        let pumps = poll_fn(|cx| {
            a_first = !a_first;
            poll_both(cx, (a, &mut ab), (b, &mut ba), a_first, &clock)
        });
        tokio::pin!(pumps);
        match (idle, clock.last()) {
            (Some(idle), Some(mut last)) => loop {
                tokio::select! {
                    r = &mut pumps => {
                        failed = r.err().flatten();
                        break;
                    }
                    _ = tokio::time::sleep_until(last + idle) => {
                        // Something may have moved while the timer ran: wait again from the last activity.
                        last = clock.last().unwrap_or(last);
                        if last + idle <= Instant::now() {
                            debug!("tunnel idle timeout");
                            timed_out = true;
                            break;
                        }
                    }
                }
            },
            _ => failed = pumps.await.err().flatten(),
        }
    }
    SpliceEnd {
        a_to_b: ab.moved,
        b_to_a: ba.moved,
        a_failed: failed == Some(Side::A),
        b_failed: failed == Some(Side::B),
        timed_out,
    }
}

/// Polls both pumps, `a`'s first when `a_first` (the caller alternates, so that a direction that always has bytes
/// cannot starve the other once the task's budget runs out); ready when both finished, or as soon as one fails (the
/// error names the failed socket, `None` when the error belongs to neither, such as a refused shutdown).
fn poll_both(
    cx: &mut Context<'_>,
    (a, ab): (&TcpStream, &mut Pump),
    (b, ba): (&TcpStream, &mut Pump),
    a_first: bool,
    clock: &Clock,
) -> Poll<Result<(), Option<Side>>> {
    let mut all_done = true;
    for from_a in [a_first, !a_first] {
        let polled = if from_a {
            ab.poll(cx, a, b, clock)
                .map_err(|e| e.side(Side::A, Side::B))
        } else {
            ba.poll(cx, b, a, clock)
                .map_err(|e| e.side(Side::B, Side::A))
        };
        match polled {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
            Poll::Pending => all_done = false,
        }
    }
    if all_done {
        Poll::Ready(Ok(()))
    } else {
        Poll::Pending
    }
}

/// One of the two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The first socket.
    A,
    /// The second socket.
    B,
}

/// Why a pump stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// Reading from the source failed.
    Src,
    /// Writing to the destination failed.
    Dst,
    /// Something else failed (the shutdown after EOF, a pipe that could not be emptied).
    Other,
}

impl Failed {
    /// The socket to blame, given which socket is this pump's source and which its destination.
    fn side(self, src: Side, dst: Side) -> Option<Side> {
        match self {
            Failed::Src => Some(src),
            Failed::Dst => Some(dst),
            Failed::Other => None,
        }
    }
}

/// How a pump moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Through a pipe with splice(2).
    Splice,
    /// Through a user-space buffer with recv(2) and send(2).
    Copy,
}

/// The time of the last byte moved, kept only when an idle timeout applies.
struct Clock(Option<Cell<Instant>>);

impl Clock {
    fn new(enabled: bool) -> Self {
        Clock(enabled.then(|| Cell::new(Instant::now())))
    }

    /// Notes that bytes moved now.
    fn touch(&self) {
        if let Some(c) = &self.0 {
            c.set(Instant::now());
        }
    }

    fn last(&self) -> Option<Instant> {
        self.0.as_ref().map(Cell::get)
    }
}

/// What one read brought in.
enum Filled {
    /// Bytes spliced into the pipe.
    Pipe(usize),
    /// Bytes received into the buffer.
    Buf(usize),
}

impl Filled {
    fn len(&self) -> usize {
        match *self {
            Filled::Pipe(n) | Filled::Buf(n) => n,
        }
    }
}

/// One direction: reads from a source socket and writes everything read to a destination socket.
///
/// At most one of the pipe and the buffer holds bytes at any time, and the source is read only when both are empty.
struct Pump {
    mode: Mode,
    /// The pipe in use, taken from the pool on the first read after a wait.
    pipe: Option<Pipe>,
    /// Bytes in the pipe not yet written.
    in_pipe: usize,
    /// User-space buffer of the fallbacks, allocated on first use.
    buf: Vec<u8>,
    /// Start of the bytes of `buf` not yet written.
    start: usize,
    /// End of the bytes of `buf` not yet written.
    end: usize,
    /// Bytes read from the source.
    moved: u64,
    /// The most bytes the next read takes from the source ([`exact`] reads no further than the body it moves).
    cap: usize,
    /// The source reached EOF.
    eof: bool,
    /// EOF was passed on to the destination.
    done: bool,
}

impl Pump {
    fn new(mode: Mode) -> Self {
        Pump {
            mode,
            pipe: None,
            in_pipe: 0,
            buf: Vec::new(),
            start: 0,
            end: 0,
            moved: 0,
            cap: usize::MAX,
            eof: false,
            done: false,
        }
    }

    /// Bytes read and not yet written.
    fn pending(&self) -> usize {
        self.in_pipe + (self.end - self.start)
    }

    /// Moves bytes until the source has nothing more for now (pending) or the direction ended (ready).
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        src: &TcpStream,
        dst: &TcpStream,
        clock: &Clock,
    ) -> Poll<Result<(), Failed>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if self.pending() > 0 {
                ready!(self.poll_drain(cx, dst, clock))?;
            } else if self.eof {
                self.finish(dst)?;
            } else {
                ready!(self.poll_fill(cx, src, clock))?;
            }
        }
    }

    /// Reads once from `src` into the pipe (or the buffer); ready once something was read or EOF was seen.
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        src: &TcpStream,
        clock: &Clock,
    ) -> Poll<Result<(), Failed>> {
        loop {
            ready!(src.poll_read_ready(cx)).map_err(|_| Failed::Src)?;
            let got = self.read_once(src);
            match got {
                Ok(f) if f.len() == 0 => {
                    self.eof = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(f) => {
                    match f {
                        Filled::Pipe(n) => self.in_pipe = n,
                        Filled::Buf(n) => (self.start, self.end) = (0, n),
                    }
                    self.moved += f.len() as u64;
                    clock.touch();
                    return Poll::Ready(Ok(()));
                }
                // Nothing to read: tokio cleared the readiness, so the next poll_read_ready waits. The pipe is empty
                // and goes back to the pool meanwhile.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.release_pipe(),
                Err(e) if self.mode == Mode::Splice && splice_unsupported(&e) => {
                    debug!(error = %e, "splice refused, copying instead");
                    self.release_pipe();
                    self.mode = Mode::Copy;
                }
                Err(_) => return Poll::Ready(Err(Failed::Src)),
            }
        }
    }

    /// One non-blocking read attempt from `src`, through tokio's readiness so that EAGAIN clears it.
    fn read_once(&mut self, src: &TcpStream) -> io::Result<Filled> {
        if self.mode == Mode::Splice {
            if self.pipe.is_none() {
                match pool_take() {
                    Ok(p) => self.pipe = Some(p),
                    Err(e) => debug!(error = %e, "no pipe, copying one chunk"),
                }
            }
            if let Some(pipe) = &self.pipe {
                let fd = src.as_raw_fd();
                let (buf, cap) = (&mut self.buf, self.cap);
                return src.try_io(Interest::READABLE, || {
                    match splice(fd, pipe.write.as_raw_fd(), pipe.size.min(cap)) {
                        // splice stops at an urgent mark and says EAGAIN although bytes wait, or 0 when the peer's
                        // FIN is in too (as at the end of the stream): recv(2) steps over the mark, and says 0 only
                        // at the real end.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock && at_urgent_mark(fd) => {
                            recv(fd, grow(buf, cap)).map(Filled::Buf)
                        }
                        Ok(0) if at_urgent_mark(fd) => recv(fd, grow(buf, cap)).map(Filled::Buf),
                        r => r.map(Filled::Pipe),
                    }
                });
            }
        }
        src.try_read(grow(&mut self.buf, self.cap)).map(Filled::Buf)
    }

    /// Writes the pending bytes to `dst`; ready once they are all written.
    fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        dst: &TcpStream,
        clock: &Clock,
    ) -> Poll<Result<(), Failed>> {
        while self.pending() > 0 {
            ready!(dst.poll_write_ready(cx)).map_err(|_| Failed::Dst)?;
            match self.write_once(dst) {
                // Nothing written although bytes are pending: treat like a broken destination rather than spin.
                Ok(0) => return Poll::Ready(Err(Failed::Dst)),
                Ok(n) => {
                    if self.end > self.start {
                        self.start += n;
                    } else {
                        self.in_pipe -= n;
                    }
                    clock.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if self.in_pipe > 0 && splice_unsupported(&e) => {
                    debug!(error = %e, "splice refused, copying instead");
                    self.unload_pipe().map_err(|_| Failed::Other)?;
                    self.mode = Mode::Copy;
                }
                Err(_) => return Poll::Ready(Err(Failed::Dst)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// One non-blocking write attempt of the pending bytes.
    fn write_once(&self, dst: &TcpStream) -> io::Result<usize> {
        if self.end > self.start {
            return dst.try_write(&self.buf[self.start..self.end]);
        }
        let Some(pipe) = &self.pipe else {
            // Bytes counted in a pipe that is not there cannot happen; refuse rather than panic.
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let fd = dst.as_raw_fd();
        dst.try_io(Interest::WRITABLE, || {
            splice(pipe.read.as_raw_fd(), fd, self.in_pipe)
        })
    }

    /// Moves what the pipe holds into the buffer (the destination refused splice), and gives the emptied pipe back.
    fn unload_pipe(&mut self) -> io::Result<()> {
        let Some(pipe) = &self.pipe else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let n = self.in_pipe;
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        let mut got = 0;
        while got < n {
            match read_fd(pipe.read.as_raw_fd(), &mut self.buf[got..n]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        (self.start, self.end, self.in_pipe) = (0, n, 0);
        self.release_pipe();
        Ok(())
    }

    /// The source ended and everything was written: pass the EOF on.
    fn finish(&mut self, dst: &TcpStream) -> Result<(), Failed> {
        self.release_pipe();
        self.done = true;
        socket2::SockRef::from(dst)
            .shutdown(Shutdown::Write)
            .map_err(|_| Failed::Other)
    }

    /// Gives the pipe back to the pool if it is empty, closes it otherwise.
    fn release_pipe(&mut self) {
        if let Some(p) = self.pipe.take() {
            if self.in_pipe == 0 {
                pool_give(p);
            }
            self.in_pipe = 0;
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.release_pipe();
    }
}

/// The fallback buffer, allocated on first use, as much of it as a read of at most `cap` bytes may fill.
fn grow(buf: &mut Vec<u8>, cap: usize) -> &mut [u8] {
    if buf.len() < COPY_BUF {
        buf.resize(COPY_BUF, 0);
    }
    let n = buf.len().min(cap);
    &mut buf[..n]
}

/// Whether a splice error means "this kind of descriptor cannot be spliced" rather than a broken connection.
fn splice_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM)
    )
}

/// splice(2) without offsets, non-blocking, retried on EINTR.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors stay open for the call; null offsets are what pipes and sockets require.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// The SIOCATMARK ioctl number of the generic Linux ABI (libc does not export it).
const SIOCATMARK: u32 = 0x8905;

/// Whether the next byte to read from socket `fd` is at the urgent mark. Only asked on architectures known to use
/// the generic ioctl number; elsewhere the answer is "no".
fn at_urgent_mark(fd: RawFd) -> bool {
    if !cfg!(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64",
        target_arch = "s390x"
    )) {
        return false;
    }
    let mut at: libc::c_int = 0;
    // SAFETY: SIOCATMARK writes one int through the pointer, which points to `at`.
    let rc = unsafe { libc::ioctl(fd, SIOCATMARK as libc::Ioctl, &mut at as *mut libc::c_int) };
    rc == 0 && at != 0
}

/// recv(2) into `buf`, non-blocking.
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// read(2) into `buf`.
fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream as StdStream};

    use tokio::net::TcpListener;

    use super::*;
    use crate::net::pipes::{pool_len, POOL_MAX};

    /// A connected pair: the blocking peer end and the tokio end.
    async fn connected() -> (StdStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = StdStream::connect(l.local_addr().unwrap()).unwrap();
        let (mine, _) = l.accept().await.unwrap();
        (peer, mine)
    }

    /// Bytes that differ from one position to the next, so that a lost or repeated chunk shows.
    fn pattern(len: usize, salt: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
    }

    /// Runs a transfer both ways with half-close in the given mode and checks content and counts.
    async fn both_ways(mode: Mode) {
        let (mut client, a) = connected().await;
        let (mut server, b) = connected().await;
        let up = pattern(3_000_001, 0x5a);
        let down = pattern(2_000_003, 0xa5);
        let (up2, down2) = (up.clone(), down.clone());
        let srv = std::thread::spawn(move || {
            let mut w = server.try_clone().unwrap();
            let t = std::thread::spawn(move || {
                w.write_all(&down2).unwrap();
                w.shutdown(Shutdown::Write).unwrap();
            });
            let mut got = Vec::new();
            server.read_to_end(&mut got).unwrap();
            t.join().unwrap();
            got
        });
        let cli = std::thread::spawn(move || {
            let mut w = client.try_clone().unwrap();
            let t = std::thread::spawn(move || {
                w.write_all(&up2).unwrap();
                w.shutdown(Shutdown::Write).unwrap();
            });
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            t.join().unwrap();
            got
        });
        let end = run(&a, &b, Some(Duration::from_secs(20)), mode).await;
        drop((a, b));
        assert!(srv.join().unwrap() == up, "server got other bytes");
        assert!(cli.join().unwrap() == down, "client got other bytes");
        assert_eq!((end.a_to_b, end.b_to_a), (3_000_001, 2_000_003));
        assert!(!end.a_failed && !end.b_failed && !end.timed_out);
    }

    #[tokio::test]
    async fn copy_fallback_moves_both_ways() {
        both_ways(Mode::Copy).await;
    }

    #[tokio::test]
    async fn splice_moves_both_ways() {
        both_ways(Mode::Splice).await;
    }

    /// Sends `data` from the blocking end of a new pair, then moves `len` bytes through [`exact`] to another pair.
    /// Returns how it ended, what the destination got, the bytes `exact` said it wrote, and what the source still
    /// held after it.
    async fn move_exact(
        data: Vec<u8>,
        len: Option<u64>,
        close: bool,
    ) -> (Result<(), ExactError>, Vec<u8>, usize, Vec<u8>) {
        let (mut server, src) = connected().await;
        let (mut client, dst) = connected().await;
        let writer = std::thread::spawn(move || {
            server.write_all(&data).unwrap();
            if close {
                server.shutdown(Shutdown::Write).unwrap();
            }
            server
        });
        let reader = std::thread::spawn(move || {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut got = Vec::new();
            let mut b = vec![0u8; 65536];
            while let Ok(n) = client.read(&mut b) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
            }
            got
        });
        let mut written = 0;
        let idle = Some(Duration::from_secs(5));
        let r = exact(&src, &dst, len, (idle, idle), || 100_000, |n| written += n).await;
        drop(dst);
        let _server = writer.join().unwrap();
        let mut rest = vec![0u8; 16];
        let _ = tokio::time::timeout(Duration::from_secs(1), src.readable()).await;
        let extra = src.try_read(&mut rest).unwrap_or(0);
        rest.truncate(extra);
        (r, reader.join().unwrap(), written, rest)
    }

    #[tokio::test]
    async fn exact_moves_the_length_and_leaves_what_follows() {
        let data = pattern(1_500_000, 7);
        let mut with_next = data.clone();
        with_next.extend_from_slice(b"NEXT");
        let (r, got, written, rest) = move_exact(with_next, Some(1_500_000), false).await;
        assert_eq!(r, Ok(()));
        assert!(
            got == data,
            "the destination got other bytes ({})",
            got.len()
        );
        assert_eq!(written, 1_500_000);
        assert_eq!(
            rest, b"NEXT",
            "the bytes after the body were not left in the source"
        );
    }

    #[tokio::test]
    async fn exact_blames_a_source_that_ends_early() {
        let (r, got, _, _) = move_exact(pattern(10_000, 1), Some(20_000), true).await;
        assert_eq!(r, Err(ExactError::Src));
        assert_eq!(got.len(), 10_000);
    }

    #[tokio::test]
    async fn without_a_length_everything_until_the_close_goes() {
        let data = pattern(700_000, 3);
        let (r, got, written, _) = move_exact(data.clone(), None, true).await;
        assert_eq!((r, written), (Ok(()), 700_000));
        assert!(
            got == data,
            "the destination got other bytes ({})",
            got.len()
        );
    }

    /// The poll-driven pump moves the length and leaves what follows, as [`exact`] does.
    #[tokio::test]
    async fn the_polled_pump_moves_the_length() {
        let (mut server, src) = connected().await;
        let (mut client, dst) = connected().await;
        let data = pattern(900_000, 5);
        let mut sent = data.clone();
        sent.extend_from_slice(b"NEXT");
        let writer = std::thread::spawn(move || {
            server.write_all(&sent).unwrap();
            server
        });
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; 900_000];
            client.read_exact(&mut got).unwrap();
            got
        });
        let mut pump = ExactPump::new(Some(900_000));
        let mut written = 0;
        let r = poll_fn(|cx| pump.poll_move(cx, &src, &dst, |n| written += n)).await;
        assert_eq!((r, written), (Ok(()), 900_000));
        assert!(reader.join().unwrap() == data);
        let _server = writer.join().unwrap();
        let mut rest = [0u8; 16];
        src.readable().await.unwrap();
        let n = src.try_read(&mut rest).unwrap();
        assert_eq!(&rest[..n], b"NEXT");
    }

    #[tokio::test]
    async fn exact_gives_up_on_a_silent_source() {
        let (mut server, src) = connected().await;
        let (_client, dst) = connected().await;
        server.write_all(b"abc").unwrap();
        let idle = Some(Duration::from_millis(200));
        let mut written = 0;
        let r = exact(&src, &dst, Some(10), (idle, idle), || 100, |n| written += n).await;
        assert_eq!((r, written), (Err(ExactError::SrcTimeout), 3));
    }

    #[tokio::test]
    async fn exact_keeps_no_pipe_while_the_destination_stalls() {
        let (mut server, src) = connected().await;
        let (_client, dst) = connected().await;
        let writer = std::thread::spawn(move || {
            let _ = server.write_all(&pattern(8_000_000, 9));
            server
        });
        pool_give(Pipe::new().unwrap());
        let pooled = pool_len();
        let idle = Some(Duration::from_millis(600));
        let (r, during) = tokio::join!(
            exact(&src, &dst, Some(8_000_000), (idle, idle), || 65536, |_| {}),
            async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                pool_len()
            }
        );
        assert_eq!(r, Err(ExactError::DstTimeout));
        assert_eq!(
            during, pooled,
            "a pipe was held while the destination read nothing"
        );
        drop(src);
        let _ = writer.join();
    }

    #[test]
    fn only_empty_pipes_return_to_the_pool() {
        let before = pool_len();
        let mut pump = Pump::new(Mode::Splice);
        pump.pipe = Some(pool_take().unwrap());
        let fd = pump.pipe.as_ref().unwrap().write.as_raw_fd();
        // SAFETY: writes 3 bytes from a valid buffer to an open pipe.
        let n = unsafe { libc::write(fd, b"abc".as_ptr().cast(), 3) };
        assert_eq!(n, 3);
        pump.in_pipe = 3;
        drop(pump);
        assert_eq!(
            pool_len(),
            before.saturating_sub(1),
            "a pipe holding bytes was pooled"
        );

        let mut pump = Pump::new(Mode::Splice);
        pump.pipe = Some(pool_take().unwrap());
        let after_take = pool_len();
        drop(pump);
        assert_eq!(pool_len(), after_take + 1);
    }

    #[test]
    fn the_pool_is_bounded() {
        let pipes: Vec<Pipe> = (0..POOL_MAX + 5).map(|_| Pipe::new().unwrap()).collect();
        for p in pipes {
            pool_give(p);
        }
        assert_eq!(pool_len(), POOL_MAX);
    }

    #[test]
    fn test_binaries_ignore_sigpipe_so_splice_is_used() {
        assert!(sigpipe_is_harmless());
    }

    #[test]
    fn pipes_get_the_asked_size() {
        let p = Pipe::new().unwrap();
        assert!(p.size >= 65536, "{}", p.size);
    }

    #[test]
    fn unload_pipe_keeps_the_bytes() {
        let mut pump = Pump::new(Mode::Splice);
        pump.pipe = Some(Pipe::new().unwrap());
        let fd = pump.pipe.as_ref().unwrap().write.as_raw_fd();
        let data = pattern(100_000, 3);
        // SAFETY: writes from a valid buffer to an open pipe (large enough for these bytes).
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        assert_eq!(n, 100_000);
        pump.in_pipe = 100_000;
        pump.unload_pipe().unwrap();
        assert_eq!((pump.in_pipe, pump.start, pump.end), (0, 0, 100_000));
        assert!(pump.buf[..100_000] == data[..]);
        assert!(pump.pipe.is_none());
    }
}
