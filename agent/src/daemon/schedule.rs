//! When to poll a source next, as os-collect-config does it: 1 s after start, doubling to the
//! maximum (30 s) while nothing changes or the source fails, back to 1 s after a change (more
//! changes tend to follow), each pause with up to 20 % random splay and the first poll at a
//! random point of the first second, so that a fleet of agents booted together spreads its
//! requests. Pure apart from the clock values passed in.

use std::time::Duration;

use tokio::time::Instant;

pub const FIRST: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    max: Duration,
    next: Instant,
    splay: bool,
}

impl Schedule {
    pub fn new(max: Duration) -> Schedule {
        // The first poll too is spread, over the first interval (at most 1 s of delay), so a
        // fleet booted together does not hit Heat in one instant.
        Schedule {
            interval: FIRST,
            max: max.max(FIRST),
            next: Instant::now() + FIRST.mul_f64(random_fraction()),
            splay: true,
        }
    }

    /// Turns the random splay on (the default) or off; off only to measure what splay buys.
    pub fn splay(mut self, on: bool) -> Schedule {
        self.splay = on;
        if !on {
            self.next = Instant::now();
        }
        self
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// Records a poll's result at `now` and plans the next.
    pub fn record(&mut self, ok: bool, changed: bool, now: Instant) {
        self.interval = if ok && changed {
            FIRST
        } else {
            (self.interval * 2).min(self.max)
        };
        let fraction = if self.splay { random_fraction() } else { 0.0 };
        self.next = now + with_splay(self.interval, fraction);
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// `interval` plus up to 20 % of it, by `fraction` in [0, 1).
pub fn with_splay(interval: Duration, fraction: f64) -> Duration {
    interval + interval.mul_f64(0.2 * fraction.clamp(0.0, 1.0))
}

fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if ok {
        u32::from_le_bytes(b) as f64 / (u32::MAX as f64 + 1.0)
    } else {
        0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_on_change() {
        let mut s = Schedule::new(Duration::from_secs(30));
        let now = Instant::now();
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
        assert!(s.next_due() >= now + Duration::from_secs(2));
        assert!(s.next_due() <= now + Duration::from_millis(2400));
    }

    #[test]
    fn without_splay_the_pause_is_exact() {
        let mut s = Schedule::new(Duration::from_secs(30)).splay(false);
        let now = Instant::now();
        s.record(true, false, now);
        assert_eq!(s.next_due(), now + Duration::from_secs(2));
    }

    #[test]
    fn splay_is_bounded() {
        assert_eq!(
            with_splay(Duration::from_secs(10), 0.0),
            Duration::from_secs(10)
        );
        assert_eq!(
            with_splay(Duration::from_secs(10), 0.5),
            Duration::from_secs(11)
        );
        assert!(with_splay(Duration::from_secs(10), 7.0) <= Duration::from_secs(12));
    }
}
