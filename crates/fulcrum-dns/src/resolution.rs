//! One name being resolved, as a pure state machine: it says when a query is due, builds it, matches answers to
//! it, and keeps the status and the last valid answer. The caller owns the sockets and the clock: it calls
//! [`Resolution::poll`] with `now` (and sends what it returns to every nameserver), [`Resolution::on_message`]
//! with each datagram, and sleeps until [`Resolution::next_wakeup`].
//!
//! Timing follows HAProxy's `resolvers` section: a query is retried every `timeout retry` until `resolve_retries`
//! queries went unanswered (status `timeout`); a valid answer is kept `hold valid` before the name is asked again;
//! after an error the name is asked again `timeout resolve` later. A host name is asked first with the preferred
//! family's type (AAAA unless `resolve-prefer ipv4`), then, if that gave nothing, with the other one. An error
//! counts only once every nameserver answered (one of them may still answer well).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::wire::{self, rcode, rtype, Message, RData};

/// The `hold` periods of a `resolvers` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// How long a valid answer is used before the name is asked again (default 10 s).
    pub valid: Duration,
    /// How long the last valid answer is kept after NXDOMAIN (default 30 s).
    pub nx: Duration,
    /// ... after other errors (default 30 s).
    pub other: Duration,
    /// ... after REFUSED (default 30 s).
    pub refused: Duration,
    /// ... after no nameserver answered (default 30 s).
    pub timeout: Duration,
    /// How long an SRV record missing from the answers is kept (default 0).
    pub obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Self {
        Hold {
            valid: Duration::from_secs(10),
            nx: Duration::from_secs(30),
            other: Duration::from_secs(30),
            refused: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            obsolete: Duration::ZERO,
        }
    }
}

/// The settings of a `resolvers` section the state machine needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Queries sent before giving up (`resolve_retries`, default 3).
    pub retries: u32,
    /// Delay before asking again after an error (`timeout resolve`, default 1 s).
    pub resolve: Duration,
    /// Delay before resending an unanswered query (`timeout retry`, default 1 s).
    pub retry: Duration,
    /// The hold periods.
    pub hold: Hold,
    /// The EDNS0 payload size announced (`accepted_payload_size`, default 512: no EDNS0).
    pub payload: u16,
    /// How many nameservers each query is sent to.
    pub nameservers: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            retries: 3,
            resolve: Duration::from_secs(1),
            retry: Duration::from_secs(1),
            hold: Hold::default(),
            payload: 512,
            nameservers: 1,
        }
    }
}

/// The status of a resolution, as `show resolvers` and the logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Never answered yet.
    None,
    /// The last answer was valid.
    Valid,
    /// The name does not exist (NXDOMAIN).
    Nx,
    /// The nameservers refused.
    Refused,
    /// Another error (SERVFAIL, no record of the types asked, truncated, ...).
    Other,
    /// An answer did not make sense (wrong question, undecodable).
    Invalid,
    /// No nameserver answered in time.
    Timeout,
}

impl Status {
    /// The hold period that applies while in this status.
    pub fn hold(self, hold: &Hold) -> Duration {
        match self {
            Status::None | Status::Valid => hold.valid,
            Status::Nx => hold.nx,
            Status::Refused => hold.refused,
            Status::Timeout => hold.timeout,
            Status::Other | Status::Invalid => hold.other,
        }
    }
}

/// What is asked: a host's address, or a service's SRV records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A and AAAA, the preferred family first.
    Host {
        /// Ask AAAA first (HAProxy's default) rather than A.
        prefer_v6: bool,
    },
    /// SRV records (with addresses from the additional section).
    Srv,
}

/// One SRV record of the last valid answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvItem {
    /// The target host, lower case.
    pub target: String,
    /// The port.
    pub port: u16,
    /// The weight (0..=65535).
    pub weight: u16,
    /// The priority.
    pub priority: u16,
    /// The target's addresses found in the additional section.
    pub addrs: Vec<IpAddr>,
    /// When this record was last seen in a valid answer.
    pub last_seen: Instant,
}

/// What [`Resolution::on_message`] did with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not for this resolution (other id or question, not a response, no query outstanding).
    NotOurs,
    /// A valid answer; `changed` when the addresses or records differ from the previous ones.
    Valid {
        /// Whether what the servers see changed.
        changed: bool,
    },
    /// An error answer recorded; `final_` once every nameserver answered badly (the status then changed).
    Error {
        /// The status this answer stands for.
        status: Status,
        /// Whether the resolution gave up on this round.
        final_: bool,
    },
    /// The preferred type gave nothing; the other family's query is due now.
    Fallback,
}

#[derive(Debug, Clone)]
struct InFlight {
    id: u16,
    qtype: u16,
    sent_at: Instant,
    tries_left: u32,
    answers: usize,
    fell_back: bool,
}

/// One name under resolution.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The name, lower case, without the final dot.
    pub name: String,
    /// What is asked.
    pub kind: Kind,
    /// The current status.
    pub status: Status,
    /// When the last round ended (answer, error or timeout).
    pub last_resolution: Option<Instant>,
    /// When the last valid answer came.
    pub last_valid: Option<Instant>,
    /// The addresses of the last valid answer (host names), in answer order.
    pub addrs: Vec<IpAddr>,
    /// The records of the last valid answers (SRV), including obsolete ones still held.
    pub srv: Vec<SrvItem>,
    inflight: Option<InFlight>,
    /// A fallback query due at once.
    fallback_due: bool,
}

impl Resolution {
    /// A resolution of `name` (which [`wire::valid_name`] must accept).
    pub fn new(name: &str, kind: Kind) -> Resolution {
        Resolution {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            kind,
            status: Status::None,
            last_resolution: None,
            last_valid: None,
            addrs: Vec::new(),
            srv: Vec::new(),
            inflight: None,
            fallback_due: false,
        }
    }

    fn first_type(&self) -> u16 {
        match self.kind {
            Kind::Host { prefer_v6: true } => rtype::AAAA,
            Kind::Host { prefer_v6: false } => rtype::A,
            Kind::Srv => rtype::SRV,
        }
    }

    /// When the next round starts, with no query outstanding.
    fn next_round(&self, p: &Params) -> Option<Instant> {
        match self.last_resolution {
            None => None,
            Some(t) if self.status == Status::Valid => Some(t + p.hold.valid.max(p.resolve)),
            Some(t) => Some(t + p.resolve),
        }
    }

    /// When the caller should call [`Resolution::poll`] next (`None`: now).
    pub fn next_wakeup(&self, p: &Params) -> Option<Instant> {
        if self.fallback_due {
            return None;
        }
        match &self.inflight {
            Some(f) => Some(f.sent_at + p.retry),
            None => self.next_round(p),
        }
    }

    /// Whether a query is outstanding.
    pub fn in_flight(&self) -> bool {
        self.inflight.is_some()
    }

    /// Advances the clock: returns a query to send to every nameserver when one is due (a new round, a resend,
    /// or the other family's fallback), with `id` as its id. Marks a timeout when the retries ran out.
    pub fn poll(&mut self, now: Instant, p: &Params, id: u16) -> Poll {
        if self.fallback_due {
            self.fallback_due = false;
            if let Some(f) = &mut self.inflight {
                f.id = id;
                f.sent_at = now;
                f.answers = 0;
                let qtype = f.qtype;
                return Poll::Send(self.query(id, qtype, p));
            }
        }
        if let Some(f) = &mut self.inflight {
            if now < f.sent_at + p.retry {
                return Poll::Idle;
            }
            if f.tries_left == 0 {
                self.inflight = None;
                self.status = Status::Timeout;
                self.last_resolution = Some(now);
                return Poll::TimedOut;
            }
            f.tries_left -= 1;
            f.id = id;
            f.sent_at = now;
            f.answers = 0;
            let qtype = f.qtype;
            return Poll::Send(self.query(id, qtype, p));
        }
        if matches!(self.next_round(p), Some(t) if now < t) {
            return Poll::Idle;
        }
        self.start(now, p, id)
    }

    /// Starts a round now, whatever the timers say (a new name set at run time, `init-addr` at start).
    pub fn start(&mut self, now: Instant, p: &Params, id: u16) -> Poll {
        let qtype = self.first_type();
        self.fallback_due = false;
        self.inflight = Some(InFlight {
            id,
            qtype,
            sent_at: now,
            tries_left: p.retries.saturating_sub(1),
            answers: 0,
            fell_back: false,
        });
        Poll::Send(self.query(id, qtype, p))
    }

    fn query(&self, id: u16, qtype: u16, p: &Params) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        // The name was checked when the resolution was made; a bad one gives an empty datagram nobody answers.
        let _ = wire::encode_query(id, &self.name, qtype, p.payload, &mut out);
        out
    }

    /// The query id outstanding, if any.
    pub fn query_id(&self) -> Option<u16> {
        self.inflight.as_ref().map(|f| f.id)
    }

    /// Takes one datagram from a nameserver.
    pub fn on_message(&mut self, now: Instant, p: &Params, msg: &Message) -> Outcome {
        let Some(f) = &mut self.inflight else {
            return Outcome::NotOurs;
        };
        if !msg.response || msg.id != f.id || self.fallback_due {
            return Outcome::NotOurs;
        }
        let qtype = f.qtype;
        f.answers += 1;
        let all_answered = f.answers >= p.nameservers.max(1);
        let ours = msg.questions.len() == 1
            && msg.questions[0].name == self.name
            && msg.questions[0].qtype == qtype
            && msg.questions[0].qclass == wire::CLASS_IN;
        let status = if !ours {
            Status::Invalid
        } else {
            match msg.rcode {
                rcode::NOERROR => match self.extract(msg, qtype) {
                    Some(found) => return self.valid(now, found),
                    None => Status::Other,
                },
                rcode::NXDOMAIN => Status::Nx,
                rcode::REFUSED => Status::Refused,
                _ => Status::Other,
            }
        };
        if !all_answered {
            return Outcome::Error {
                status,
                final_: false,
            };
        }
        // Every nameserver answered badly: try the other family once, then give up.
        let Some(f) = &mut self.inflight else {
            return Outcome::NotOurs;
        };
        if let (Kind::Host { .. }, false) = (self.kind, f.fell_back) {
            if status != Status::Invalid {
                f.fell_back = true;
                f.qtype = if qtype == rtype::A {
                    rtype::AAAA
                } else {
                    rtype::A
                };
                self.fallback_due = true;
                return Outcome::Fallback;
            }
        }
        self.inflight = None;
        self.status = status;
        self.last_resolution = Some(now);
        Outcome::Error {
            status,
            final_: true,
        }
    }

    fn extract(&self, msg: &Message, qtype: u16) -> Option<Found> {
        // Follow CNAMEs from the name asked (a bounded number of hops).
        let mut names = vec![self.name.clone()];
        for _ in 0..8 {
            let last = names.last().expect("one name");
            let next = msg.answers.iter().find_map(|r| match &r.data {
                RData::Cname(t) if &r.name == last => Some(t.clone()),
                _ => None,
            });
            match next {
                Some(t) if !names.contains(&t) => names.push(t),
                _ => break,
            }
        }
        let owned = |r: &wire::Record| names.contains(&r.name);
        if qtype == rtype::SRV {
            let mut items: Vec<(u16, u16, u16, String)> = msg
                .answers
                .iter()
                .filter(|r| owned(r))
                .filter_map(|r| match &r.data {
                    RData::Srv {
                        priority,
                        weight,
                        port,
                        target,
                    } => Some((*priority, *weight, *port, target.clone())),
                    _ => None,
                })
                .collect();
            if items.is_empty() {
                return None;
            }
            items.sort_by_key(|i| i.0);
            let found = items
                .into_iter()
                .map(|(priority, weight, port, target)| {
                    let addrs = msg
                        .additional
                        .iter()
                        .filter(|r| r.name == target)
                        .filter_map(|r| match r.data {
                            RData::A(a) => Some(IpAddr::V4(a)),
                            RData::Aaaa(a) => Some(IpAddr::V6(a)),
                            _ => None,
                        })
                        .collect();
                    (target, port, weight, priority, addrs)
                })
                .collect();
            return Some(Found::Srv(found));
        }
        let addrs: Vec<IpAddr> = msg
            .answers
            .iter()
            .filter(|r| owned(r))
            .filter_map(|r| match r.data {
                RData::A(a) if qtype == rtype::A => Some(IpAddr::V4(a)),
                RData::Aaaa(a) if qtype == rtype::AAAA => Some(IpAddr::V6(a)),
                _ => None,
            })
            .collect();
        (!addrs.is_empty()).then_some(Found::Addrs(addrs))
    }

    fn valid(&mut self, now: Instant, found: Found) -> Outcome {
        self.inflight = None;
        self.status = Status::Valid;
        self.last_resolution = Some(now);
        self.last_valid = Some(now);
        let changed = match found {
            Found::Addrs(a) => {
                let changed = a != self.addrs;
                self.addrs = a;
                changed
            }
            Found::Srv(items) => {
                let mut changed = false;
                for (target, port, weight, priority, addrs) in items {
                    match self
                        .srv
                        .iter_mut()
                        .find(|s| s.target == target && s.port == port)
                    {
                        Some(s) => {
                            changed |=
                                s.weight != weight || s.addrs != addrs || s.priority != priority;
                            s.weight = weight;
                            s.priority = priority;
                            s.addrs = addrs;
                            s.last_seen = now;
                        }
                        None => {
                            changed = true;
                            self.srv.push(SrvItem {
                                target,
                                port,
                                weight,
                                priority,
                                addrs,
                                last_seen: now,
                            });
                        }
                    }
                }
                changed
            }
        };
        Outcome::Valid { changed }
    }

    /// Drops SRV records not seen for longer than `hold obsolete`; true when some went.
    pub fn expire_obsolete(&mut self, now: Instant, hold: &Hold) -> bool {
        let before = self.srv.len();
        let Some(valid) = self.last_valid else {
            return false;
        };
        self.srv.retain(|s| {
            s.last_seen == valid || now.saturating_duration_since(s.last_seen) < hold.obsolete
        });
        self.srv.len() != before
    }

    /// Whether the servers using this name should keep their address: true while the answer is valid or the
    /// error's hold period since the last valid answer has not run out. False means "put the server in
    /// maintenance" (HAProxy's resolution maintenance).
    pub fn usable(&self, now: Instant, hold: &Hold) -> bool {
        match (self.status, self.last_valid) {
            (Status::Valid, _) => true,
            (Status::None, _) => true,
            (s, Some(v)) => now.saturating_duration_since(v) < s.hold(hold),
            (_, None) => false,
        }
    }

    /// Forgets the answers and starts over (the name changed at run time).
    pub fn reset(&mut self, name: &str) {
        *self = Resolution::new(name, self.kind);
    }
}

enum Found {
    Addrs(Vec<IpAddr>),
    Srv(Vec<(String, u16, u16, u16, Vec<IpAddr>)>),
}

/// What [`Resolution::poll`] asks the caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Nothing now.
    Idle,
    /// Send this datagram to every nameserver.
    Send(Vec<u8>),
    /// The retries ran out: the status is now [`Status::Timeout`].
    TimedOut,
}
