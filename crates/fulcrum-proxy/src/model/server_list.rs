//! The servers of one backend: an append-only list that the runtime API (`add server`) can grow while workers
//! read it without a lock. A server keeps its index for the life of the process (the balancing table refers to
//! servers by index), so `del server` leaves a tombstone: the server is marked deleted, the table is rebuilt
//! without it, and [`ServerList::iter`] no longer yields it.
//!
//! Slots live in chunks of doubling sizes that are never moved or freed, so a reference to a slot stays valid
//! while the list grows; each slot is written once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::model::server::ServerRt;

/// Slots in the first chunk; chunk `k` holds `FIRST << k`.
const FIRST: usize = 16;
/// Chunks: room for `FIRST * (2^CHUNKS - 1)` servers, far more than a backend can use.
const CHUNKS: usize = 24;

type Chunk = Box<[OnceLock<Arc<ServerRt>>]>;

/// The servers of a backend, by index.
pub struct ServerList {
    chunks: [OnceLock<Chunk>; CHUNKS],
    len: AtomicUsize,
    grow: Mutex<()>,
}

/// The chunk and the offset in it of slot `i`.
fn locate(i: usize) -> (usize, usize) {
    let q = i / FIRST + 1;
    let k = (usize::BITS - 1 - q.leading_zeros()) as usize;
    (k, i - FIRST * ((1 << k) - 1))
}

impl ServerList {
    /// A list holding `servers`, in order.
    pub fn new(servers: Vec<Arc<ServerRt>>) -> Self {
        let list = ServerList {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicUsize::new(0),
            grow: Mutex::new(()),
        };
        for s in servers {
            list.push(s);
        }
        list
    }

    /// Appends a server (control plane only); returns its index. The server's `index` must be
    /// [`ServerList::len`] (use [`ServerList::push_with`] to build it knowing its index).
    pub fn push(&self, server: Arc<ServerRt>) -> usize {
        self.push_with(|_| server)
    }

    /// Appends the server `make` builds for the next index; returns that index.
    pub fn push_with(&self, make: impl FnOnce(usize) -> Arc<ServerRt>) -> usize {
        let _g = self.grow.lock().unwrap_or_else(|e| e.into_inner());
        let i = self.len.load(Ordering::Acquire);
        let (k, off) = locate(i);
        let chunk =
            self.chunks[k].get_or_init(|| (0..FIRST << k).map(|_| OnceLock::new()).collect());
        let _ = chunk[off].set(make(i));
        self.len.store(i + 1, Ordering::Release);
        i
    }

    /// Slots in use, deleted servers included: every index below is valid.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the backend has no server at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server at index `i` (deleted or not).
    pub fn get(&self, i: usize) -> Option<&Arc<ServerRt>> {
        if i >= self.len() {
            return None;
        }
        let (k, off) = locate(i);
        self.chunks[k].get()?.get(off)?.get()
    }

    /// Every slot in index order, deleted servers included (what the balancing table is built from).
    pub fn slots(&self) -> impl Iterator<Item = &Arc<ServerRt>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The servers that exist (not deleted), in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ServerRt>> + '_ {
        self.slots().filter(|s| !s.is_deleted())
    }
}

impl std::ops::Index<usize> for ServerList {
    type Output = Arc<ServerRt>;

    fn index(&self, i: usize) -> &Arc<ServerRt> {
        match self.get(i) {
            Some(s) => s,
            None => panic!("server index {i} out of range ({} servers)", self.len()),
        }
    }
}

impl<'a> IntoIterator for &'a ServerList {
    type Item = &'a Arc<ServerRt>;
    type IntoIter = Box<dyn Iterator<Item = &'a Arc<ServerRt>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_chunks_without_gaps() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(15), (0, 15));
        assert_eq!(locate(16), (1, 0));
        assert_eq!(locate(47), (1, 31));
        assert_eq!(locate(48), (2, 0));
        let mut last = (0, 0);
        for i in 1..10_000 {
            let (k, off) = locate(i);
            assert!(off < FIRST << k);
            assert!(
                (k == last.0 && off == last.1 + 1) || (k == last.0 + 1 && off == 0),
                "{i}"
            );
            last = (k, off);
        }
    }
}
