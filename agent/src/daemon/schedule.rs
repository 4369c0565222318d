//! When to poll a source next. The interval follows os-collect-config: 1 s, doubling up to the
//! maximum (Heat's `polling_interval`, 30 s by default) while nothing changes or the source
//! fails, back to 1 s after a change (more changes tend to follow). Unlike os-collect-config,
//! a remote source's polls are spread so that a fleet booted together never polls in step:
//!
//! - the first poll falls at a random point of the first `FIRST_SPREAD` (2 s): a fresh VM
//!   still polls within its first seconds, and a fleet's boot storm is spread over them;
//! - every pause is drawn uniformly from [interval / 2, 3 interval / 2) ("equal jitter"):
//!   the mean pause is the interval, the longest 1.5 times it, and since each pause varies
//!   by a whole interval, one pause is enough to give each agent a random phase. Agents stay
//!   spread in steady state and through a backoff (when Heat fails for everyone at once).
//!
//! Local sources (files) use an exact schedule: polled at once, no jitter; nothing to spread.
//! Pure: the clock values come in as arguments and the randomness from a `Jitter`, so tests
//! script both.

use std::time::Duration;

use tokio::time::Instant;

/// The interval after a change, and the first of the doubling.
pub const FIRST: Duration = Duration::from_secs(1);
/// A remote source's first poll falls in [0, FIRST_SPREAD) after it starts.
pub const FIRST_SPREAD: Duration = Duration::from_secs(2);
/// The maximum interval when neither the configuration nor Heat gives one (os-collect-config's
/// `polling_interval` default).
pub const DEFAULT_MAX: Duration = Duration::from_secs(30);
/// No maximum interval is longer than this (a day), whatever the configuration says.
pub const LONGEST_MAX: Duration = Duration::from_secs(crate::heat::document::MAX_POLLING_INTERVAL);

/// A source of random fractions in [0, 1).
pub trait Jitter {
    fn fraction(&mut self) -> f64;
}

impl Jitter for fastrand::Rng {
    fn fraction(&mut self) -> f64 {
        self.f64()
    }
}

#[derive(Debug, Clone)]
pub struct Schedule<J = fastrand::Rng> {
    interval: Duration,
    max: Duration,
    next: Instant,
    /// None: the exact schedule (first poll at once, pauses of exactly the interval).
    jitter: Option<J>,
}

impl Schedule {
    /// A remote source's schedule: first poll within `FIRST_SPREAD`, jittered pauses.
    pub fn spread(max: Duration, now: Instant) -> Schedule {
        Schedule::with_jitter(max, now, fastrand::Rng::new())
    }

    /// A local source's schedule (or a fleet without spreading, to measure what it buys):
    /// first poll at `now`, pauses of exactly the interval.
    pub fn exact(max: Duration, now: Instant) -> Schedule {
        Schedule {
            interval: FIRST,
            max: max.clamp(FIRST, LONGEST_MAX),
            next: now,
            jitter: None,
        }
    }
}

impl<J: Jitter> Schedule<J> {
    /// A spread schedule drawing from `jitter`.
    pub fn with_jitter(max: Duration, now: Instant, mut jitter: J) -> Schedule<J> {
        let first = first_delay(jitter.fraction());
        Schedule {
            interval: FIRST,
            max: max.clamp(FIRST, LONGEST_MAX),
            next: now + first,
            jitter: Some(jitter),
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    pub fn next_due(&self) -> Instant {
        self.next
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// Records a poll's result at `now` and plans the next.
    pub fn record(&mut self, ok: bool, changed: bool, now: Instant) {
        self.interval = if ok && changed {
            FIRST
        } else {
            (self.interval * 2).min(self.max)
        };
        self.next = now + self.pause();
    }

    /// A new maximum (Heat's `polling_interval` came or changed). A planned poll further away
    /// than the new maximum allows is planned again from `now`.
    pub fn set_max(&mut self, max: Duration, now: Instant) {
        self.max = max.clamp(FIRST, LONGEST_MAX);
        if self.interval > self.max {
            self.interval = self.max;
        }
        if self.next > now + longest_pause(self.max) {
            self.next = now + self.pause();
        }
    }

    fn pause(&mut self) -> Duration {
        match &mut self.jitter {
            Some(j) => jittered(self.interval, j.fraction()),
            None => self.interval,
        }
    }
}

/// The first poll's delay for a random `fraction` in [0, 1): [0, FIRST_SPREAD).
pub fn first_delay(fraction: f64) -> Duration {
    FIRST_SPREAD.mul_f64(unit(fraction))
}

/// A pause of mean `interval`: [interval / 2, 3 interval / 2) for `fraction` in [0, 1).
pub fn jittered(interval: Duration, fraction: f64) -> Duration {
    interval.mul_f64(0.5 + unit(fraction))
}

/// The longest pause `jittered` gives for `interval`.
pub fn longest_pause(interval: Duration) -> Duration {
    interval.mul_f64(1.5)
}

fn unit(fraction: f64) -> f64 {
    if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fractions from a script, repeated.
    struct Scripted(Vec<f64>, usize);

    impl Jitter for Scripted {
        fn fraction(&mut self) -> f64 {
            let f = self.0[self.1 % self.0.len()];
            self.1 += 1;
            f
        }
    }

    fn scripted(f: &[f64]) -> Scripted {
        Scripted(f.to_vec(), 0)
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn doubles_to_the_cap_and_resets_on_change() {
        let now = Instant::now();
        let mut s = Schedule::with_jitter(DEFAULT_MAX, now, scripted(&[0.5]));
        let mut seen = Vec::new();
        for _ in 0..7 {
            s.record(true, false, now);
            seen.push(s.interval().as_secs());
        }
        assert_eq!(seen, vec![2, 4, 8, 16, 30, 30, 30]);
        s.record(true, true, now);
        assert_eq!(s.interval(), FIRST);
        s.record(false, false, now);
        assert_eq!(s.interval().as_secs(), 2, "failures back off too");
    }

    #[test]
    fn the_first_poll_falls_in_the_first_seconds() {
        let now = Instant::now();
        let at = |f: f64| Schedule::with_jitter(DEFAULT_MAX, now, scripted(&[f])).next_due() - now;
        assert_eq!(at(0.0), Duration::ZERO, "a fresh VM can poll at once");
        assert_eq!(at(0.5), Duration::from_secs(1));
        assert!(at(0.999_999) < FIRST_SPREAD);
        assert!(
            at(7.0) <= FIRST_SPREAD,
            "out-of-range fractions are clamped"
        );
        assert_eq!(at(f64::NAN), Duration::from_secs(1));
        assert_eq!(Schedule::exact(DEFAULT_MAX, now).next_due(), now);
    }

    #[test]
    fn pauses_vary_by_a_whole_interval_around_it() {
        let now = Instant::now();
        // First fraction: the first poll; then one per pause.
        let mut s = Schedule::with_jitter(DEFAULT_MAX, now, scripted(&[0.0, 0.0, 0.999_999, 0.5]));
        s.record(true, false, now); // interval 2 s, fraction 0.0
        assert_eq!(secs(s.next_due() - now), 1.0);
        s.record(true, false, now); // 4 s, 0.999999
        assert!((secs(s.next_due() - now) - 6.0).abs() < 1e-4);
        s.record(true, false, now); // 8 s, 0.5
        assert_eq!(secs(s.next_due() - now), 8.0);
        assert_eq!(
            jittered(Duration::from_secs(30), 0.25),
            Duration::from_secs(22) + Duration::from_millis(500)
        );
        assert_eq!(
            longest_pause(Duration::from_secs(30)),
            Duration::from_secs(45)
        );
    }

    #[test]
    fn the_mean_pause_is_the_interval() {
        // Evenly spaced fractions stand for a uniform source: the pauses average the interval.
        let n = 1000;
        let total: f64 = (0..n)
            .map(|i| {
                secs(jittered(
                    Duration::from_secs(30),
                    (i as f64 + 0.5) / n as f64,
                ))
            })
            .sum();
        assert!((total / n as f64 - 30.0).abs() < 1e-9);
    }

    #[test]
    fn a_fleet_in_step_is_spread_over_the_interval_by_one_pause() {
        // 300 agents whose polls coincide at t = 0 with the interval at its maximum: after one
        // pause their next polls cover [15 s, 45 s) evenly, none in step with another.
        let now = Instant::now();
        let n = 300;
        let mut next: Vec<f64> = (0..n)
            .map(|i| {
                let mut s =
                    Schedule::with_jitter(DEFAULT_MAX, now, scripted(&[0.0, i as f64 / n as f64]));
                s.interval = DEFAULT_MAX;
                s.record(true, false, now);
                secs(s.next_due() - now)
            })
            .collect();
        next.sort_by(f64::total_cmp);
        for (i, t) in next.iter().enumerate() {
            assert!((t - (15.0 + 30.0 * i as f64 / n as f64)).abs() < 1e-6);
        }
    }

    #[test]
    fn without_jitter_the_pause_is_exact() {
        let now = Instant::now();
        let mut s = Schedule::exact(DEFAULT_MAX, now);
        s.record(true, false, now);
        assert_eq!(s.next_due(), now + Duration::from_secs(2));
    }

    #[test]
    fn a_new_maximum_applies_at_once() {
        let now = Instant::now();
        let mut s = Schedule::with_jitter(Duration::from_secs(600), now, scripted(&[0.5]));
        for _ in 0..12 {
            s.record(true, false, now);
        }
        assert_eq!(s.interval(), Duration::from_secs(600));
        assert_eq!(s.next_due(), now + Duration::from_secs(600));
        s.set_max(Duration::from_secs(10), now);
        assert_eq!(s.interval(), Duration::from_secs(10));
        assert_eq!(s.next_due(), now + Duration::from_secs(10));
        s.record(true, false, now);
        assert_eq!(s.interval(), Duration::from_secs(10), "the new cap holds");
        // A larger maximum lets the interval grow, without moving the planned poll.
        s.set_max(Duration::from_secs(60), now);
        assert_eq!(s.next_due(), now + Duration::from_secs(10));
        s.record(true, false, now);
        assert_eq!(s.interval(), Duration::from_secs(20));
        s.set_max(Duration::ZERO, now);
        assert_eq!(s.max(), FIRST, "never below 1 s");
        s.set_max(Duration::from_secs(u64::MAX), now);
        assert_eq!(s.max(), LONGEST_MAX, "never above a day");
        let s = Schedule::exact(Duration::MAX, now);
        assert_eq!(s.max(), LONGEST_MAX);
    }
}
