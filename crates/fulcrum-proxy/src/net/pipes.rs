//! The pipes splicing moves bytes through (`net::splice`): opened non-blocking at the size `tune.pipesize` asks,
//! kept empty in a small pool per thread for reuse, and counted against `maxpipes` for the whole process (pooled
//! ones included, as HAProxy counts them). When none can be had, the caller copies through user space instead.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Capacity asked for each new pipe (F_SETPIPE_SZ) unless `tune.pipesize` says otherwise ([`set_pipe_size`]); the
/// kernel may round it or refuse it, then the default stays.
pub(crate) const PIPE_SIZE: usize = 256 * 1024;

/// The capacity asked for new pipes: [`PIPE_SIZE`], or `tune.pipesize` (0: the kernel's default, 64 KiB).
static PIPE_SIZE_ASKED: AtomicUsize = AtomicUsize::new(PIPE_SIZE);

/// `maxpipes`: the most pipes open at once in the process (0: no limit).
static MAX_PIPES: AtomicUsize = AtomicUsize::new(0);
/// Pipes open now, in use or pooled.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// Pipes waiting in the threads' pools now.
static POOLED: AtomicUsize = AtomicUsize::new(0);

/// `tune.pipesize N`: the capacity asked for each pipe opened from now on (0: the kernel's default; `None`:
/// fulcrum's own, [`PIPE_SIZE`]).
pub fn set_pipe_size(n: Option<usize>) {
    PIPE_SIZE_ASKED.store(n.unwrap_or(PIPE_SIZE), Relaxed);
}

/// `maxpipes N`: no more than N pipes open at once from now on (`None`: no limit).
pub fn set_max_pipes(n: Option<usize>) {
    MAX_PIPES.store(n.unwrap_or(0), Relaxed);
}

/// `show info`'s `Maxpipes` (0: no limit), `PipesUsed` and `PipesFree`.
pub fn figures() -> [u64; 3] {
    let (open, pooled) = (OPEN.load(Relaxed), POOLED.load(Relaxed));
    [MAX_PIPES.load(Relaxed), open.saturating_sub(pooled), pooled].map(|n| n as u64)
}

/// Empty pipes kept for reuse by each thread; more are closed when released.
pub(crate) const POOL_MAX: usize = 64;

/// A pipe: both ends non-blocking and close-on-exec, closed (and no longer counted) when dropped.
pub(crate) struct Pipe {
    pub(crate) read: OwnedFd,
    pub(crate) write: OwnedFd,
    /// Its capacity in bytes.
    pub(crate) size: usize,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Relaxed);
    }
}

impl Pipe {
    /// Opens a pipe and asks for the configured size; refused when `maxpipes` are open already.
    pub(crate) fn new() -> io::Result<Self> {
        let max = MAX_PIPES.load(Relaxed);
        OPEN.fetch_update(Relaxed, Relaxed, |open| {
            (max == 0 || open < max).then_some(open + 1)
        })
        .map_err(|_| io::Error::other("maxpipes pipes are open"))?;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            OPEN.fetch_sub(1, Relaxed);
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let fd = write.as_raw_fd();
        let asked = PIPE_SIZE_ASKED.load(Relaxed);
        let asked = libc::c_int::try_from(asked).unwrap_or(libc::c_int::MAX);
        let mut size = if asked > 0 {
            // SAFETY: fcntl on a descriptor owned here; F_SETPIPE_SZ takes and returns a plain integer.
            unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, asked) }
        } else {
            0
        };
        if size <= 0 {
            // SAFETY: fcntl on a descriptor owned here; F_GETPIPE_SZ returns a plain integer.
            size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .unwrap_or(65536);
        Ok(Pipe { read, write, size })
    }
}

thread_local! {
    /// Empty pipes ready for reuse by this thread.
    static POOL: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
}

/// An empty pipe: a pooled one, else a new one.
pub(crate) fn pool_take() -> io::Result<Pipe> {
    let pooled = POOL
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten();
    match pooled {
        Some(p) => {
            POOLED.fetch_sub(1, Relaxed);
            Ok(p)
        }
        None => Pipe::new(),
    }
}

/// Keeps an empty pipe for reuse, or closes it when the pool is full (or the thread is exiting).
/// The caller guarantees the pipe holds no bytes.
pub(crate) fn pool_give(pipe: Pipe) {
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOL_MAX {
                POOLED.fetch_add(1, Relaxed);
                p.push(pipe);
            }
        }
    });
}

/// Pipes in this thread's pool.
#[cfg(test)]
pub(crate) fn pool_len() -> usize {
    POOL.try_with(|p| p.borrow().len()).unwrap_or(0)
}
