//! The rise/fall tracker: HAProxy's health counter as a pure state machine (no I/O, no clock).
//!
//! The counter runs from 0 to `rise + fall - 1`. A passed check adds one; a failed check
//! takes one. A server that is UP stays UP while the counter is at least `rise`, so `fall`
//! consecutive failures from fully up bring it DOWN (the counter then drops to 0); a DOWN server
//! comes UP once the counter reaches `rise`, i.e. after `rise` consecutive successes (any
//! failure on the way resets it to 0), and the counter then jumps to fully up. A server assumed
//! up at start has the counter at `rise`: its first failed check brings it DOWN.

use std::fmt;
use std::time::Duration;

/// The result of one health check, as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// The check passed.
    Passed,
    /// The check failed.
    Failed,
}

/// A change of the server's state caused by a check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server went from DOWN to UP.
    Up,
    /// The server went from UP to DOWN.
    Down,
}

/// Rise/fall state of one server's health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    rise: u32,
    fall: u32,
    inter: Duration,
    fastinter: Duration,
    downinter: Duration,
    health: u32,
    up: bool,
}

impl Tracker {
    /// A tracker with HAProxy's `rise`, `fall` (both at least 1), `inter`, `fastinter` and
    /// `downinter`. With `initially_up` the server starts UP with the counter at `rise` (HAProxy's
    /// default: one failure brings it down); otherwise it starts fully DOWN.
    pub fn new(
        rise: u32,
        fall: u32,
        inter: Duration,
        fastinter: Duration,
        downinter: Duration,
        initially_up: bool,
    ) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        Tracker {
            rise,
            fall,
            inter,
            fastinter,
            downinter,
            health: if initially_up { rise } else { 0 },
            up: initially_up,
        }
    }

    fn full(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Records one check result; returns the transition when the server changes state.
    pub fn record(&mut self, result: CheckResult) -> Option<Transition> {
        match result {
            CheckResult::Passed => {
                if self.health < self.full() {
                    self.health += 1;
                    if self.health >= self.rise {
                        self.health = self.full();
                    }
                }
                if !self.up && self.health >= self.rise {
                    self.up = true;
                    return Some(Transition::Up);
                }
            }
            CheckResult::Failed => {
                self.health = self.health.saturating_sub(1);
                if self.health < self.rise {
                    self.health = 0;
                }
                if self.up && self.health < self.rise {
                    self.up = false;
                    return Some(Transition::Down);
                }
            }
        }
        None
    }

    /// How long to wait before the next check: `inter` while fully UP, `downinter` while fully
    /// DOWN, `fastinter` in between (while the state is changing).
    pub fn next_interval(&self) -> Duration {
        if self.health == self.full() && self.up {
            self.inter
        } else if self.health == 0 && !self.up {
            self.downinter
        } else {
            self.fastinter
        }
    }

    /// Whether the server is UP.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The health counter, from 0 to `rise + fall - 1`.
    pub fn health(&self) -> u32 {
        self.health
    }

    /// The counter as `option log-health-checks` lines show it (`status: 1/3 UP`): (progress, out of, whether
    /// the counter says UP). At or above `rise`, progress counts from 1 to `fall`; below it, from 0 to `rise - 1`.
    pub fn log_status(&self) -> (u32, u32, bool) {
        if self.health >= self.rise {
            (self.health - self.rise + 1, self.fall, true)
        } else {
            (self.health, self.rise, false)
        }
    }

    /// Leaves an UP server one failed check away from DOWN (`on-error sudden-death`, before the failed check
    /// it also counts as): a counter above `rise + 1` drops to it.
    pub fn pre_fatal(&mut self) {
        if self.health > self.rise {
            self.health = self.health.min(self.rise + 1);
        }
    }

    /// Leaves the server so that the next failed check brings it DOWN (`on-error mark-down`).
    pub fn fatal(&mut self) {
        self.health = self.health.min(self.rise);
    }

    /// Forces the state (runtime API `set server ... health up|down`): fully UP or fully DOWN.
    /// Returns the transition if the state changed.
    pub fn force(&mut self, up: bool) -> Option<Transition> {
        let changed = self.up != up;
        self.up = up;
        self.health = if up { self.full() } else { 0 };
        match (changed, up) {
            (false, _) => None,
            (true, true) => Some(Transition::Up),
            (true, false) => Some(Transition::Down),
        }
    }

    /// The status as HAProxy's stats page words it: `UP`, `UP 1/3` (going down after one
    /// failure of three), `DOWN`, `DOWN 1/2` (going up after one success of two).
    pub fn status(&self) -> Status {
        Status {
            up: self.up,
            step: if self.up {
                (self.health < self.full()).then(|| (self.health + 1 - self.rise, self.fall))
            } else {
                (self.health > 0).then_some((self.health, self.rise))
            },
        }
    }
}

/// A server's check status for display (see [`Tracker::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Whether the server is UP.
    pub up: bool,
    /// While transitioning: (progress, out of), as HAProxy prints it.
    pub step: Option<(u32, u32)>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.up { "UP" } else { "DOWN" })?;
        if let Some((n, of)) = self.step {
            write!(f, " {n}/{of}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckResult::{Failed, Passed};

    const INTER: Duration = Duration::from_millis(2000);
    const FAST: Duration = Duration::from_millis(500);
    const DOWN: Duration = Duration::from_millis(10_000);

    fn tracker(rise: u32, fall: u32, up: bool) -> Tracker {
        Tracker::new(rise, fall, INTER, FAST, DOWN, up)
    }

    #[test]
    fn starts_up_and_one_failure_brings_it_down() {
        let mut t = tracker(2, 3, true);
        assert!(t.is_up());
        assert_eq!(t.health(), 2);
        assert_eq!(t.next_interval(), FAST);
        assert_eq!(t.record(Failed), Some(Transition::Down));
        assert!(!t.is_up());
        assert_eq!(t.next_interval(), DOWN);
    }

    #[test]
    fn sudden_death_leaves_one_failure_and_mark_down_none() {
        // rise 2, fall 5: fully up at 6; sudden death then a failed check leave it at 2 ("UP 1/5").
        let mut t = tracker(2, 5, true);
        t.record(Passed);
        assert_eq!(t.health(), 6);
        t.pre_fatal();
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.status().to_string(), "UP 1/5");
        assert_eq!(t.record(Failed), Some(Transition::Down));
        // Already close to DOWN: sudden death changes nothing more.
        let mut t = tracker(2, 5, true);
        t.pre_fatal();
        assert_eq!(t.health(), 2);
        // Mark-down: the failed check that follows takes it DOWN from fully up.
        let mut t = tracker(2, 5, true);
        t.record(Passed);
        t.fatal();
        assert_eq!(t.record(Failed), Some(Transition::Down));
        assert_eq!(t.health(), 0);
    }

    #[test]
    fn first_success_makes_it_fully_up() {
        let mut t = tracker(2, 3, true);
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.health(), 4);
        assert_eq!(t.next_interval(), INTER);
        assert_eq!(t.status().to_string(), "UP");
    }

    #[test]
    fn falls_after_fall_consecutive_failures() {
        let mut t = tracker(2, 3, true);
        t.record(Passed);
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.next_interval(), FAST);
        assert_eq!(t.status().to_string(), "UP 2/3");
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.status().to_string(), "UP 1/3");
        assert_eq!(t.record(Failed), Some(Transition::Down));
        assert_eq!(t.status().to_string(), "DOWN");
        assert_eq!(t.next_interval(), DOWN);
        assert_eq!(t.record(Failed), None);
    }

    #[test]
    fn a_success_while_up_restores_full_health() {
        let mut t = tracker(2, 3, true);
        t.record(Passed);
        t.record(Failed);
        t.record(Failed);
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.health(), 4);
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.record(Failed), Some(Transition::Down));
    }

    #[test]
    fn rises_after_rise_consecutive_successes() {
        let mut t = tracker(3, 2, false);
        assert!(!t.is_up());
        assert_eq!(t.next_interval(), DOWN);
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.next_interval(), FAST);
        assert_eq!(t.status().to_string(), "DOWN 1/3");
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.status().to_string(), "DOWN 2/3");
        assert_eq!(t.record(Passed), Some(Transition::Up));
        assert_eq!(t.health(), 4);
        assert_eq!(t.next_interval(), INTER);
        assert_eq!(t.record(Passed), None);
    }

    #[test]
    fn a_failure_while_rising_starts_over() {
        let mut t = tracker(3, 2, false);
        t.record(Passed);
        t.record(Passed);
        assert_eq!(t.record(Failed), None);
        assert_eq!(t.health(), 0);
        assert_eq!(t.next_interval(), DOWN);
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.record(Passed), None);
        assert_eq!(t.record(Passed), Some(Transition::Up));
    }

    #[test]
    fn rise_and_fall_of_one() {
        let mut t = tracker(1, 1, true);
        assert_eq!(t.next_interval(), INTER);
        assert_eq!(t.record(Failed), Some(Transition::Down));
        assert_eq!(t.record(Passed), Some(Transition::Up));
        assert_eq!(t.record(Passed), None);
        let zero = tracker(0, 0, false);
        assert_eq!(zero.health(), 0);
    }

    #[test]
    fn log_status_counts_like_haproxy() {
        let mut t = tracker(2, 3, true);
        assert_eq!(t.log_status(), (1, 3, true));
        t.record(Passed);
        assert_eq!(t.log_status(), (3, 3, true));
        t.record(Failed);
        assert_eq!(t.log_status(), (2, 3, true));
        t.record(Failed);
        t.record(Failed);
        assert_eq!(t.log_status(), (0, 2, false));
        t.record(Passed);
        assert_eq!(t.log_status(), (1, 2, false));
        let mut one = tracker(1, 1, true);
        assert_eq!(one.log_status(), (1, 1, true));
        one.record(Failed);
        assert_eq!(one.log_status(), (0, 1, false));
    }

    #[test]
    fn force() {
        let mut t = tracker(2, 3, true);
        assert_eq!(t.force(true), None);
        assert_eq!(t.health(), 4);
        assert_eq!(t.force(false), Some(Transition::Down));
        assert_eq!(t.next_interval(), DOWN);
        assert_eq!(t.force(true), Some(Transition::Up));
    }
}
