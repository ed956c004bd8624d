//! The parking lot of a worker: idle keep-alive connections wait here without a task of their own.
//!
//! A parked connection is a slot holding what the connection owns, a small waker registered on its socket, and an
//! entry in a deadline heap. One task per worker ([`Lot::run`]) hands a connection back when its socket becomes
//! readable (the next request, or the client closing) and closes it when its idle time runs out. An idle
//! connection then costs its socket and a slot, instead of a task with its whole future.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Something that can be parked: it waits on one socket.
pub trait Parkable {
    /// The socket whose readability ends the wait.
    fn stream(&self) -> &TcpStream;
}

/// Identifies one parking of one slot: a slot is reused, its generation is not.
type Ticket = (u32, u32);

/// The side of the lot that wakers reach (they must be `Send`, the lot itself is not).
#[derive(Default)]
struct Shared {
    /// Slots whose socket became readable.
    ready: Mutex<Vec<Ticket>>,
    /// The lot task, to wake when `ready` gets an entry.
    task: Mutex<Option<Waker>>,
}

impl Shared {
    fn wake_task(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// The waker registered on a parked socket.
struct SlotWaker {
    shared: Arc<Shared>,
    ticket: Ticket,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Ok(mut ready) = self.shared.ready.lock() {
            ready.push(self.ticket);
        }
        self.shared.wake_task();
    }
}

/// A place in the lot. The item is boxed: slots are kept for reuse and the vector of them grows by doubling, so
/// an empty or spare slot costs a pointer rather than a whole connection's room.
struct Slot<T> {
    generation: u32,
    item: Option<Box<T>>,
    deadline: Option<Instant>,
}

struct Inner<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    /// Deadlines of parked slots, earliest first. An entry whose slot has been resumed stays until it is popped or
    /// the heap is rebuilt.
    deadlines: BinaryHeap<Reverse<(Instant, Ticket)>>,
    parked: usize,
}

/// The parked connections of one worker.
pub struct Lot<T> {
    inner: RefCell<Inner<T>>,
    shared: Arc<Shared>,
}

impl<T> Default for Lot<T> {
    fn default() -> Self {
        Lot {
            inner: RefCell::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                deadlines: BinaryHeap::new(),
                parked: 0,
            }),
            shared: Arc::default(),
        }
    }
}

impl<T: Parkable> Lot<T> {
    /// How many connections are parked.
    pub fn len(&self) -> usize {
        self.inner.borrow().parked
    }

    /// Whether no connection is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks `item` until its socket is readable or `deadline` passes. Hands it straight back when the socket is
    /// readable already.
    pub fn park(&self, item: T, deadline: Option<Instant>) -> Result<(), T> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                let Ok(i) = u32::try_from(inner.slots.len()) else {
                    return Err(item);
                };
                inner.slots.push(Slot {
                    generation: 0,
                    item: None,
                    deadline: None,
                });
                i
            }
        };
        let slot = &mut inner.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let ticket = (index, slot.generation);
        let waker = Waker::from(Arc::new(SlotWaker {
            shared: self.shared.clone(),
            ticket,
        }));
        if item
            .stream()
            .poll_read_ready(&mut Context::from_waker(&waker))
            .is_ready()
        {
            inner.free.push(index);
            return Err(item);
        }
        slot.item = Some(Box::new(item));
        slot.deadline = deadline;
        inner.parked += 1;
        if let Some(d) = deadline {
            let earliest = inner.deadlines.peek().is_none_or(|Reverse((e, _))| d < *e);
            inner.deadlines.push(Reverse((d, ticket)));
            // Resumed connections leave their entries behind: rebuild once they outnumber the parked ones.
            if inner.deadlines.len() > 2 * inner.parked + 64 {
                inner.rebuild_deadlines();
            }
            // The lot task's timer is set for a later deadline, or none: it must look again.
            if earliest {
                drop(guard);
                self.shared.wake_task();
            }
        }
        Ok(())
    }

    /// Takes every parked connection out of the lot (a soft stop closes them).
    pub fn take_all(&self) -> Vec<T> {
        let mut inner = self.inner.borrow_mut();
        let mut out = Vec::with_capacity(inner.parked);
        for index in 0..inner.slots.len() {
            let generation = inner.slots[index].generation;
            if let Some(item) = inner.take((index as u32, generation)) {
                out.push(item);
            }
        }
        inner.deadlines.clear();
        out
    }

    /// Runs the lot forever: `ready` gets each connection whose socket became readable, `expired` each one whose
    /// deadline passed.
    pub async fn run(&self, mut ready: impl FnMut(T), mut expired: impl FnMut(T)) {
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        poll_fn(|cx| loop {
            // Registered before the ready list is read, so a wake in between is not lost.
            if let Ok(mut task) = self.shared.task.lock() {
                *task = Some(cx.waker().clone());
            }
            let woken = self
                .shared
                .ready
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default();
            for ticket in woken {
                let item = self.inner.borrow_mut().take(ticket);
                if let Some(item) = item {
                    ready(item);
                }
            }
            let now = Instant::now();
            let next = loop {
                let popped = {
                    let mut inner = self.inner.borrow_mut();
                    match inner.deadlines.peek() {
                        Some(Reverse((d, _))) if *d > now => break Some(*d),
                        None => break None,
                        Some(_) => inner
                            .deadlines
                            .pop()
                            .and_then(|Reverse((_, ticket))| inner.take(ticket)),
                    }
                };
                if let Some(item) = popped {
                    expired(item);
                }
            };
            let Some(next) = next else {
                return Poll::Pending;
            };
            let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if t.deadline() != next {
                t.as_mut().reset(next);
            }
            if t.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await
    }
}

impl<T> Inner<T> {
    /// Takes the item parked under `ticket`, if it is still there.
    fn take(&mut self, (index, generation): Ticket) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let item = slot.item.take()?;
        slot.deadline = None;
        self.free.push(index);
        self.parked -= 1;
        Some(*item)
    }

    fn rebuild_deadlines(&mut self) {
        let live: Vec<_> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.item.is_some())
            .filter_map(|(i, s)| Some(Reverse((s.deadline?, (i as u32, s.generation)))))
            .collect();
        self.deadlines = BinaryHeap::from(live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    struct Conn(TcpStream, usize);

    impl Parkable for Conn {
        fn stream(&self) -> &TcpStream {
            &self.0
        }
    }

    /// (peer, socket to park). The parked side is the connecting one: an accepted socket starts out marked
    /// readable until its first read.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (b, a)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hands_back_readable_connections_and_expires_idle_ones() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let lot: Rc<Lot<Conn>> = Rc::new(Lot::default());
                let ready = Rc::new(RefCell::new(Vec::new()));
                let expired = Rc::new(RefCell::new(Vec::new()));
                let (r, e) = (ready.clone(), expired.clone());
                let l = lot.clone();
                tokio::task::spawn_local(async move {
                    l.run(|c| r.borrow_mut().push(c.1), |c| e.borrow_mut().push(c.1))
                        .await
                });
                let (mut peer1, s1) = pair().await;
                let (_peer2, s2) = pair().await;
                let (_peer3, s3) = pair().await;
                let soon = Instant::now() + Duration::from_millis(100);
                assert!(lot.park(Conn(s1, 1), None).is_ok());
                assert!(lot.park(Conn(s2, 2), Some(soon)).is_ok());
                assert!(lot
                    .park(Conn(s3, 3), Some(soon + Duration::from_secs(60)))
                    .is_ok());
                assert_eq!(lot.len(), 3);
                peer1.write_all(b"x").await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                assert_eq!(*ready.borrow(), vec![1]);
                assert!(expired.borrow().is_empty());
                tokio::time::sleep(Duration::from_millis(150)).await;
                assert_eq!(*expired.borrow(), vec![2]);
                assert_eq!(lot.len(), 1);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn take_all_empties_the_lot() {
        let lot: Lot<Conn> = Lot::default();
        let (_p1, s1) = pair().await;
        let (_p2, s2) = pair().await;
        let far = Instant::now() + Duration::from_secs(60);
        assert!(lot.park(Conn(s1, 1), Some(far)).is_ok());
        assert!(lot.park(Conn(s2, 2), None).is_ok());
        let mut taken: Vec<usize> = lot.take_all().into_iter().map(|c| c.1).collect();
        taken.sort_unstable();
        assert_eq!(taken, [1, 2]);
        assert!(lot.is_empty());
        assert!(lot.inner.borrow().deadlines.is_empty());
        assert!(lot.take_all().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_readable_socket_is_not_parked_and_stale_entries_are_dropped() {
        let lot: Lot<Conn> = Lot::default();
        let (mut peer, s) = pair().await;
        peer.write_all(b"x").await.unwrap();
        // Let the readiness arrive.
        s.readable().await.unwrap();
        let back = lot.park(Conn(s, 1), None);
        assert!(back.is_err());
        assert!(lot.is_empty());
        // Parking and resuming many times keeps the deadline heap bounded.
        let (_p, s) = pair().await;
        let mut conn = Conn(s, 2);
        let far = Instant::now() + Duration::from_secs(60);
        let resumed = Cell::new(0);
        for _ in 0..1000 {
            lot.park(conn, Some(far)).ok().unwrap();
            let ticket = {
                let inner = lot.inner.borrow();
                let i = inner.slots.iter().position(|s| s.item.is_some()).unwrap();
                (i as u32, inner.slots[i].generation)
            };
            conn = lot.inner.borrow_mut().take(ticket).unwrap();
            resumed.set(resumed.get() + 1);
        }
        assert_eq!(resumed.get(), 1000);
        assert!(
            lot.inner.borrow().deadlines.len() <= 67,
            "one parked connection, at most 66 stale entries"
        );
    }
}
