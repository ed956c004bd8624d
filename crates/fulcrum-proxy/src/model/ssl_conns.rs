//! `maxsslconn`: the TLS connections open at once in the process, those accepted on `ssl` listeners and those
//! made to `ssl` servers together, as HAProxy counts them. At the limit an `ssl` listener stops accepting (the
//! kernel queues new connections) until one closes, and a new TLS connection to a server fails (the request gets
//! HAProxy's 500). The counts are `show info`'s `CurrSslConns` and `CumSslConns`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The process's TLS connections.
#[derive(Debug)]
pub struct SslConns {
    /// `maxsslconn`, as permits; `None`: no limit.
    permits: Option<Arc<Semaphore>>,
    limit: u32,
    open: AtomicU64,
    total: AtomicU64,
}

/// One TLS connection, counted until dropped.
#[derive(Debug)]
pub struct SslConn {
    of: Arc<SslConns>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for SslConn {
    fn drop(&mut self) {
        self.of.open.fetch_sub(1, Relaxed);
    }
}

impl SslConns {
    /// The count of a process with `maxsslconn` `limit` (`None`: none).
    pub fn new(limit: Option<u32>) -> Arc<Self> {
        Arc::new(SslConns {
            permits: limit.map(|n| Arc::new(Semaphore::new(n as usize))),
            limit: limit.unwrap_or(0),
            open: AtomicU64::new(0),
            total: AtomicU64::new(0),
        })
    }

    fn counted(self: &Arc<Self>, permit: Option<OwnedSemaphorePermit>) -> SslConn {
        self.open.fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
        SslConn {
            of: self.clone(),
            _permit: permit,
        }
    }

    /// Waits until the limit leaves room for one more TLS connection, without taking it: a listener waits so
    /// before accepting, and a connection to a server may still take the room meanwhile, as in HAProxy, where
    /// only open connections count.
    pub async fn room(&self) {
        if let Some(p) = &self.permits {
            // Taken and given back at once; the semaphore is never closed.
            drop(p.acquire().await);
        }
    }

    /// Waits until one more TLS connection may open, and counts it (a connection a listener accepted).
    pub async fn wait(self: &Arc<Self>) -> SslConn {
        let permit = match &self.permits {
            // The semaphore is never closed.
            Some(p) => p.clone().acquire_owned().await.ok(),
            None => None,
        };
        self.counted(permit)
    }

    /// One more TLS connection if the limit allows it now (a connection to a server).
    pub fn try_take(self: &Arc<Self>) -> Option<SslConn> {
        let permit = match &self.permits {
            Some(p) => Some(p.clone().try_acquire_owned().ok()?),
            None => None,
        };
        Some(self.counted(permit))
    }

    /// `show info`'s `MaxSslConns` (0: no limit), `CurrSslConns` and `CumSslConns`.
    pub fn figures(&self) -> [u64; 3] {
        [
            u64::from(self.limit),
            self.open.load(Relaxed),
            self.total.load(Relaxed),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_holds_for_both_sides_and_frees_on_close() {
        let conns = SslConns::new(Some(2));
        let a = conns.wait().await;
        let b = conns.try_take().expect("room for a second");
        assert!(conns.try_take().is_none(), "a third is over the limit");
        assert_eq!(conns.figures(), [2, 2, 2]);
        let waiting = tokio::spawn({
            let conns = conns.clone();
            async move { conns.wait().await }
        });
        let room = tokio::spawn({
            let conns = conns.clone();
            async move { conns.room().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a listener waits at the limit");
        assert!(!room.is_finished(), "there is no room at the limit");
        drop(a);
        let c = waiting.await.unwrap();
        assert_eq!(conns.figures(), [2, 2, 3]);
        drop(b);
        room.await.unwrap();
        assert_eq!(conns.figures(), [2, 1, 3], "waiting for room takes none");
        let b = conns.try_take().expect("the room is still there");
        drop((b, c));
        assert_eq!(conns.figures(), [2, 0, 4]);
    }

    #[test]
    fn without_a_limit_connections_are_only_counted() {
        let conns = SslConns::new(None);
        let all: Vec<_> = (0..5).map(|_| conns.try_take().unwrap()).collect();
        assert_eq!(conns.figures(), [0, 5, 5]);
        drop(all);
        assert_eq!(conns.figures()[1], 0);
    }
}
