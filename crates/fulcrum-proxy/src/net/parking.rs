//! The parking lot of a worker: idle keep-alive connections wait here without a task of their own.
//!
//! A parked connection is a slot holding what the connection owns and an entry in a deadline heap. Its socket is
//! out of tokio's reactor, registered instead (one-shot) with the lot's own epoll instance, whose descriptor the
//! reactor watches. One task per worker ([`Lot::run`]) hands a connection back when its socket becomes readable
//! (the next request, or the client closing) and closes it when its idle time runs out. An idle connection then
//! costs its socket and a slot: no task with its whole future, no reactor registration (tokio's is a 256-byte
//! allocation per socket), no waker.

use std::cell::{OnceCell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Poll, Waker};

use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, Sleep};

/// Something that can be parked: it waits on one socket, registered with no reactor while parked.
pub trait Parkable {
    /// The socket whose readability ends the wait.
    fn fd(&self) -> RawFd;
}

/// Identifies one parking of one slot: a slot is reused, its generation is not.
type Ticket = (u32, u32);

fn pack((index, generation): Ticket) -> u64 {
    (u64::from(index) << 32) | u64::from(generation)
}

fn unpack(data: u64) -> Ticket {
    ((data >> 32) as u32, data as u32)
}

/// How many ready sockets one `epoll_wait` of the lot collects.
const EVENTS: usize = 64;

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

/// The parked connections of one worker (used on that worker's thread only).
pub struct Lot<T> {
    inner: RefCell<Inner<T>>,
    /// The epoll instance the parked sockets are registered with, made at first use.
    epoll: OnceCell<AsyncFd<OwnedFd>>,
    /// The lot task, to wake when a parking brings a deadline earlier than its timer's.
    task: RefCell<Option<Waker>>,
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
            epoll: OnceCell::new(),
            task: RefCell::new(None),
        }
    }
}

/// A new epoll instance, watched by the reactor of the calling thread's runtime.
fn new_epoll() -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: epoll_create1 takes no pointer; the descriptor it returns is owned by nobody else.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is closed only by this OwnedFd.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the descriptor, which therefore stays open and the same for its whole life.
    Ok(unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }?)
}

/// Removes `fd` from the lot's epoll instance.
fn unwatch(epoll: Option<&AsyncFd<OwnedFd>>, fd: RawFd) {
    if let Some(e) = epoll {
        // SAFETY: EPOLL_CTL_DEL ignores the event pointer (null is allowed since Linux 2.6.9). A failure (the
        // socket was not registered) leaves nothing to undo.
        unsafe {
            libc::epoll_ctl(
                e.get_ref().as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
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

    fn epoll(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        if let Some(e) = self.epoll.get() {
            return Ok(e);
        }
        let made = new_epoll()?;
        let epoll = self.epoll.get_or_init(|| made);
        // The lot task may have found none (it could not be made then): it must look again.
        self.wake_task();
        Ok(epoll)
    }

    /// Parks `item` until its socket is readable (already readable: at the lot's next turn) or `deadline`
    /// passes. Hands it back when its socket cannot be watched.
    pub fn park(&self, item: T, deadline: Option<Instant>) -> Result<(), T> {
        let Ok(epoll) = self.epoll() else {
            return Err(item);
        };
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
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: pack(ticket),
        };
        // SAFETY: `event` is a valid epoll_event for the call to read; both descriptors are open.
        let rc = unsafe {
            libc::epoll_ctl(
                epoll.get_ref().as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                item.fd(),
                &mut event,
            )
        };
        if rc != 0 {
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
                self.wake_task();
            }
        }
        Ok(())
    }

    fn wake_task(&self) {
        let task = self.task.borrow_mut().take();
        if let Some(task) = task {
            task.wake();
        }
    }

    /// Takes the item parked under `ticket` out of the lot (and out of its epoll instance), if it is still there.
    fn take(&self, ticket: Ticket) -> Option<T> {
        let item = self.inner.borrow_mut().take(ticket)?;
        unwatch(self.epoll.get(), item.fd());
        Some(item)
    }

    /// Takes every parked connection out of the lot (a soft stop closes them).
    pub fn take_all(&self) -> Vec<T> {
        let tickets: Vec<Ticket> = {
            let inner = self.inner.borrow();
            inner
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.item.is_some())
                .map(|(i, s)| (i as u32, s.generation))
                .collect()
        };
        let out = tickets.into_iter().filter_map(|t| self.take(t)).collect();
        self.inner.borrow_mut().deadlines.clear();
        out
    }

    /// Runs the lot forever: `ready` gets each connection whose socket became readable, `expired` each one whose
    /// deadline passed. Until an epoll instance could be made (at start, else at a later parking), none is
    /// parked.
    pub async fn run(&self, mut ready: impl FnMut(T), mut expired: impl FnMut(T)) {
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        let _ = self.epoll();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        poll_fn(|cx| loop {
            {
                let mut task = self.task.borrow_mut();
                if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                    *task = Some(cx.waker().clone());
                }
            }
            if let Some(epoll) = self.epoll.get() {
                while let Poll::Ready(Ok(mut readiness)) = epoll.poll_read_ready(cx) {
                    // SAFETY: `events` has room for EVENTS entries; a zero timeout never blocks.
                    let n = unsafe {
                        libc::epoll_wait(
                            epoll.get_ref().as_raw_fd(),
                            events.as_mut_ptr(),
                            EVENTS as i32,
                            0,
                        )
                    };
                    let n = usize::try_from(n).unwrap_or(0);
                    if n < EVENTS {
                        readiness.clear_ready();
                    }
                    for event in &events[..n] {
                        let data = event.u64;
                        if let Some(item) = self.take(unpack(data)) {
                            ready(item);
                        }
                    }
                }
            }
            let now = Instant::now();
            let next = loop {
                let popped = {
                    let mut inner = self.inner.borrow_mut();
                    match inner.deadlines.peek() {
                        Some(Reverse((d, _))) if *d > now => break Some(*d),
                        None => break None,
                        Some(_) => inner.deadlines.pop().map(|Reverse((_, ticket))| ticket),
                    }
                };
                if let Some(item) = popped.and_then(|t| self.take(t)) {
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
    use std::io::Write;
    use std::net::TcpStream;
    use std::rc::Rc;
    use std::time::Duration;

    struct Conn(TcpStream, usize);

    impl Parkable for Conn {
        fn fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    /// (peer, socket to park).
    fn pair() -> (TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (b, a)
    }

    /// Runs `test` on a current-thread runtime with a `LocalSet`, the lot's task running beside it and noting
    /// what it hands back (`ready`) and closes (`expired`).
    fn with_lot(
        test: impl AsyncFnOnce(Rc<Lot<Conn>>, Rc<RefCell<Vec<usize>>>, Rc<RefCell<Vec<usize>>>),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let lot: Rc<Lot<Conn>> = Rc::new(Lot::default());
            let ready = Rc::new(RefCell::new(Vec::new()));
            let expired = Rc::new(RefCell::new(Vec::new()));
            let (r, e) = (ready.clone(), expired.clone());
            let l = lot.clone();
            tokio::task::spawn_local(async move {
                l.run(|c| r.borrow_mut().push(c.1), |c| e.borrow_mut().push(c.1))
                    .await
            });
            test(lot, ready, expired).await;
        });
    }

    #[test]
    fn hands_back_readable_connections_and_expires_idle_ones() {
        with_lot(async |lot, ready, expired| {
            let (mut peer1, s1) = pair();
            let (_peer2, s2) = pair();
            let (_peer3, s3) = pair();
            let soon = Instant::now() + Duration::from_millis(100);
            assert!(lot.park(Conn(s1, 1), None).is_ok());
            assert!(lot.park(Conn(s2, 2), Some(soon)).is_ok());
            assert!(lot
                .park(Conn(s3, 3), Some(soon + Duration::from_secs(60)))
                .is_ok());
            assert_eq!(lot.len(), 3);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(ready.borrow().is_empty(), "nothing was sent yet");
            peer1.write_all(b"x").unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(*ready.borrow(), vec![1]);
            assert!(expired.borrow().is_empty());
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(*expired.borrow(), vec![2]);
            assert_eq!(lot.len(), 1);
        });
    }

    #[test]
    fn a_client_closing_or_already_readable_is_handed_back() {
        with_lot(async |lot, ready, _| {
            let (mut peer1, s1) = pair();
            peer1.write_all(b"x").unwrap();
            let (peer2, s2) = pair();
            assert!(lot.park(Conn(s1, 1), None).is_ok());
            assert!(lot.park(Conn(s2, 2), None).is_ok());
            drop(peer2);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut got = ready.borrow().clone();
            got.sort_unstable();
            assert_eq!(got, vec![1, 2]);
            assert!(lot.is_empty());
            // Handed back, a socket is out of the lot's epoll: parked again, it is watched again.
            let (mut peer3, s3) = pair();
            assert!(lot.park(Conn(s3, 3), None).is_ok());
            peer3.write_all(b"y").unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(ready.borrow().len(), 3);
        });
    }

    #[test]
    fn take_all_empties_the_lot() {
        with_lot(async |lot, ready, _| {
            let (_p1, s1) = pair();
            let (mut p2, s2) = pair();
            let far = Instant::now() + Duration::from_secs(60);
            assert!(lot.park(Conn(s1, 1), Some(far)).is_ok());
            assert!(lot.park(Conn(s2, 2), None).is_ok());
            let taken = lot.take_all();
            let mut ids: Vec<usize> = taken.iter().map(|c| c.1).collect();
            ids.sort_unstable();
            assert_eq!(ids, [1, 2]);
            assert!(lot.is_empty());
            assert!(lot.inner.borrow().deadlines.is_empty());
            assert!(lot.take_all().is_empty());
            // Taken out, the sockets are no longer watched.
            p2.write_all(b"x").unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(ready.borrow().is_empty());
        });
    }

    #[test]
    fn stale_deadline_entries_are_dropped() {
        with_lot(async |lot, _, _| {
            // Parking and resuming many times keeps the deadline heap bounded.
            let (_p, s) = pair();
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
                conn = lot.take(ticket).unwrap();
                resumed.set(resumed.get() + 1);
            }
            assert_eq!(resumed.get(), 1000);
            assert!(
                lot.inner.borrow().deadlines.len() <= 67,
                "one parked connection, at most 66 stale entries"
            );
        });
    }
}
