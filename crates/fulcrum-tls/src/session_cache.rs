//! The server side's TLS session cache (`tune.ssl.cachesize`), counted as HAProxy counts its own for `show info`:
//! a lookup each time a client asks to resume a session by its id (TLS 1.2 without a ticket; TLS 1.3 and tickets
//! need no cache), a miss when the session is not there. The counts are the process's, like HAProxy's cache.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

static LOOKUPS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// `SslCacheLookups` and `SslCacheMisses`: the process's lookups of sessions to resume, and those not found.
pub fn figures() -> [u64; 2] {
    [LOOKUPS.load(Relaxed), MISSES.load(Relaxed)]
}

/// A memory cache of `size` sessions whose lookups are counted.
pub fn counted(size: usize) -> Arc<dyn StoresServerSessions> {
    Arc::new(Counted(ServerSessionMemoryCache::new(size)))
}

#[derive(Debug)]
struct Counted(Arc<ServerSessionMemoryCache>);

impl Counted {
    fn count(found: Option<Vec<u8>>) -> Option<Vec<u8>> {
        LOOKUPS.fetch_add(1, Relaxed);
        if found.is_none() {
            MISSES.fetch_add(1, Relaxed);
        }
        found
    }
}

impl StoresServerSessions for Counted {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Self::count(self.0.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        Self::count(self.0.take(key))
    }

    fn can_cache(&self) -> bool {
        self.0.can_cache()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_misses_are_counted() {
        let cache = counted(4);
        let [l0, m0] = figures();
        assert!(cache.put(b"a".to_vec(), b"session".to_vec()));
        assert_eq!(cache.get(b"a").as_deref(), Some(&b"session"[..]));
        assert_eq!(cache.get(b"b"), None);
        assert_eq!(cache.take(b"a").as_deref(), Some(&b"session"[..]));
        let [l1, m1] = figures();
        // Other tests of this process may count too: at least these.
        assert!(l1 - l0 >= 3 && m1 - m0 >= 1);
    }
}
