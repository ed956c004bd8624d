//! HAProxy's frequency counters: events over a sliding period, the previous period weighted by the part of it
//! that still lies inside the window.
//!
//! A counter holds the events of the current period, those of the previous one and the start of the current
//! period. Reading at time `now` gives `curr + prev * remain / period`, where `remain` is what is left of the
//! current period: the older period fades out linearly as the current one fills. After two idle periods the
//! counter reads 0. Times are milliseconds on the caller's clock (sans-IO: the table never reads a clock).

/// One frequency counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freq {
    curr: u32,
    prev: u32,
    /// Start of the current period, in the low 32 bits of the caller's milliseconds (0: never updated). Compared
    /// with wrapping arithmetic, as HAProxy's 32-bit ticks: 12 bytes per counter rather than 16.
    tick: u32,
}

impl Freq {
    /// Adds `n` events at `now`, rotating the periods first when the current one is over.
    pub fn add(&mut self, n: u32, period: u32, now: u64) {
        let (period, now) = (period.max(1), now as u32);
        if now.wrapping_sub(self.tick) < period {
            self.curr = self.curr.saturating_add(n);
            return;
        }
        self.prev = self.curr;
        self.curr = n;
        self.tick = self.tick.wrapping_add(period);
        if now.wrapping_sub(self.tick) >= period {
            // Two periods or more went by without an event: nothing is left of the older one.
            self.prev = 0;
            self.tick = now;
        }
    }

    /// The events per `period` at `now`.
    pub fn read(&self, period: u32, now: u64) -> u32 {
        let period = i64::from(period.max(1));
        let (mut curr, mut past) = (i64::from(self.curr), i64::from(self.prev));
        let mut remain = period - i64::from((now as u32).wrapping_sub(self.tick));
        if remain < 0 {
            remain += period;
            past = if remain < 0 { 0 } else { curr };
            curr = 0;
        }
        let total = past * remain.max(0) + curr * period;
        u32::try_from(total / period).unwrap_or(u32::MAX)
    }

    /// The counter as HAProxy's peers protocol sends it at `now`: milliseconds since the current period began
    /// (wrapping, as HAProxy's ticks), the events of the current period and those of the previous one.
    pub fn to_wire(&self, now: u64) -> (u32, u32, u32) {
        ((now as u32).wrapping_sub(self.tick), self.curr, self.prev)
    }

    /// The counter a peer sent (see [`Freq::to_wire`]), placed on the local clock at `now`. A period that began
    /// before this clock's start is clamped to its start, and emptied when two periods went by since.
    pub fn from_wire(elapsed: u32, curr: u32, prev: u32, period: u32, now: u64) -> Freq {
        if u64::from(elapsed) >= now {
            if u64::from(elapsed) >= 2 * u64::from(period.max(1)) {
                return Freq::default();
            }
            return Freq {
                curr,
                prev,
                tick: 0,
            };
        }
        Freq {
            curr,
            prev,
            tick: (now as u32).wrapping_sub(elapsed),
        }
    }

    /// Sets the counter to `n` events in a period starting at `now` (`set table ... data.X_rate N`).
    pub fn set(&mut self, n: u32, now: u64) {
        *self = Freq {
            curr: n,
            prev: 0,
            tick: now as u32,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_a_period() {
        let mut f = Freq::default();
        for _ in 0..5 {
            f.add(1, 10_000, 1_000_000);
        }
        assert_eq!(f.read(10_000, 1_000_000), 5);
        assert_eq!(f.read(10_000, 1_009_999), 5);
    }

    #[test]
    fn previous_period_fades_linearly() {
        let mut f = Freq::default();
        f.add(100, 1000, 5000);
        // one event starts the next period: 100 events weighted by what is left of it
        f.add(1, 1000, 6000);
        assert_eq!(f.read(1000, 6000), 101);
        assert_eq!(f.read(1000, 6250), 76);
        assert_eq!(f.read(1000, 6500), 51);
        assert_eq!(f.read(1000, 6999), 1);
        // reading late, without an event to rotate: the old current period is the previous one now
        assert_eq!(f.read(1000, 7500), 0);
    }

    #[test]
    fn reads_past_the_period_without_rotation() {
        let mut f = Freq::default();
        f.add(10, 1000, 5000);
        assert_eq!(f.read(1000, 5999), 10);
        assert_eq!(f.read(1000, 6000), 10);
        assert_eq!(f.read(1000, 6500), 5);
        assert_eq!(f.read(1000, 7000), 0);
        assert_eq!(f.read(1000, 90_000), 0);
    }

    #[test]
    fn two_idle_periods_forget_everything() {
        let mut f = Freq::default();
        f.add(10, 1000, 5000);
        f.add(1, 1000, 8000);
        assert_eq!(f.read(1000, 8000), 1);
        f.set(7, 9000);
        assert_eq!(f.read(1000, 9000), 7);
    }

    #[test]
    fn periods_cross_the_32_bit_tick_wrap() {
        let wrap = 1u64 << 32;
        let mut f = Freq::default();
        f.add(3, 1000, wrap - 400);
        f.add(2, 1000, wrap + 100);
        assert_eq!(f.read(1000, wrap + 100), 5);
        // the next period, across the wrap: the previous one fades as before
        f.add(1, 1000, wrap + 700);
        // 100 ms into the new period: 1 + 5 * 900 / 1000
        assert_eq!(f.read(1000, wrap + 700), 5);
        assert_eq!(f.to_wire(wrap + 700).0, 100);
    }
}
