//! The dictionary of a peers session (`server_key` values): each side numbers the texts it sends, 1 to
//! [`CAPACITY`], sends a text with its number the first time and the number alone afterwards. When every number
//! is taken the oldest is given to the next new text (sent whole again). The receiver keeps what each number
//! stands for in this session.

use std::collections::HashMap;

/// How many texts a session numbers at once (HAProxy 2.6 keeps 128).
pub const CAPACITY: usize = 128;

/// The sending side: local entries (any `u64` naming a text) to the session's numbers.
#[derive(Debug, Default)]
pub struct Outgoing {
    numbers: HashMap<u64, u64>,
    /// The local entry each number stands for (number `i + 1` at index `i`).
    slots: Vec<u64>,
    /// The slot the next new text takes once all are used.
    next: usize,
}

impl Outgoing {
    /// The number of `local` and whether the text must go with it (a new or reassigned number).
    pub fn number(&mut self, local: u64) -> (u64, bool) {
        if let Some(&n) = self.numbers.get(&local) {
            return (n, false);
        }
        let slot = if self.slots.len() < CAPACITY {
            self.slots.push(local);
            self.slots.len() - 1
        } else {
            let s = self.next;
            self.next = (self.next + 1) % CAPACITY;
            self.numbers.remove(&self.slots[s]);
            self.slots[s] = local;
            s
        };
        let n = slot as u64 + 1;
        self.numbers.insert(local, n);
        (n, true)
    }
}

/// The receiving side: the texts the peer numbered in this session.
#[derive(Debug, Default)]
pub struct Incoming {
    texts: HashMap<u64, Vec<u8>>,
}

impl Incoming {
    /// The text of a received entry: the one sent with it (then remembered), else the one its number stood for.
    /// `None` for number 0, an unknown number, or more numbers than a session may use.
    pub fn resolve(&mut self, number: u64, text: Option<&[u8]>) -> Option<&[u8]> {
        if number == 0 || number > CAPACITY as u64 {
            return None;
        }
        if let Some(t) = text {
            self.texts.insert(number, t.to_vec());
        }
        self.texts.get(&number).map(Vec::as_slice)
    }
}
