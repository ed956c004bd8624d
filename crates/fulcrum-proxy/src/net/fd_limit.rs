//! The process's descriptor limit, raised to what `maxconn` needs before anything is bound, as HAProxy does: two
//! descriptors per connection (the client's and the server's) and one per listening socket, plus a few of its own.
//! Without `global maxconn` the soft limit is raised to the hard one. When the hard limit is too low, the start
//! fails (`strict-limits`, HAProxy's default) or goes on with a warning (`no strict-limits`).

use tracing::warn;

/// Descriptors kept besides connections and listeners (logs, the runtime API, the health checker, pipes).
const SPARE: u64 = 16;

/// What the limit could not be raised to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[ALERT] Cannot raise FD limit to {need}, limit is {limit}.")]
pub struct FdLimitError {
    /// What `maxconn` needs.
    pub need: u64,
    /// The hard limit.
    pub limit: u64,
}

fn get() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0)
        .then_some((r.rlim_cur, r.rlim_max))
}

fn set(soft: u64, hard: u64) -> bool {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid rlimit; the call only reads it.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 }
}

/// The descriptors `maxconn` connections and `listeners` listening sockets need.
pub fn needed(maxconn: u32, listeners: usize) -> u64 {
    2 * u64::from(maxconn) + listeners as u64 + SPARE
}

/// Raises the soft limit to `need` (or to the hard limit when `need` is `None`), never above `cap`
/// (`fd-hard-limit`). Returns the limit now in force.
pub fn raise(need: Option<u64>, strict: bool, cap: Option<u64>) -> Result<u64, FdLimitError> {
    let Some((soft, hard)) = get() else {
        return Ok(0);
    };
    let ceiling = cap.map_or(hard, |c| c.min(hard));
    let want = need.unwrap_or(ceiling);
    if soft >= want {
        return Ok(soft);
    }
    let target = want.min(ceiling);
    let now = if set(target, hard) { target } else { soft };
    match need {
        Some(need) if now < need => {
            let e = FdLimitError { need, limit: now };
            if strict {
                return Err(e);
            }
            warn!("Cannot raise FD limit to {need}, limit is {now}.");
            warn!(
                "FD limit ({now}) too low for maxconn={}/maxsock={need}: raise 'ulimit -n' to {need} or more",
                (need - SPARE.min(need)) / 2
            );
            Ok(now)
        }
        _ => Ok(now),
    }
}

/// `ulimit-n N`: sets the soft limit to exactly `n` (lower or higher than before), the hard one too when it is
/// below `n` and the process may raise it. Then checks that `need` (what `maxconn` needs) fits, as
/// [`raise`] does. Returns the limit now in force.
pub fn set_exact(n: u64, need: Option<u64>, strict: bool) -> Result<u64, FdLimitError> {
    let Some((soft, hard)) = get() else {
        return Ok(0);
    };
    let now = if set(n, hard.max(n)) || set(n.min(hard), hard) {
        n.min(get().map_or(soft, |(s, _)| s))
    } else {
        soft
    };
    if now < n {
        let e = FdLimitError {
            need: n,
            limit: now,
        };
        if strict {
            return Err(e);
        }
        warn!("Cannot raise FD limit to {n}, limit is {now}.");
    }
    match need {
        Some(need) if now < need => {
            let e = FdLimitError { need, limit: now };
            if strict {
                return Err(e);
            }
            warn!(
                "FD limit ({now}) too low for maxconn={}/maxsock={need}: raise 'ulimit-n' to {need} or more",
                (need - SPARE.min(need)) / 2
            );
            Ok(now)
        }
        _ => Ok(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_per_connection_one_per_listener() {
        assert_eq!(needed(1000, 1), 2017);
        assert_eq!(needed(0, 0), SPARE);
    }
}
