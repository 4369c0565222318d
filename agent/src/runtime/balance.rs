//! Which web instance a new connection goes to (pure; the proxy keeps the counts): the least
//! connections among the instances in rotation, ties broken round robin from a moving start.
//! See docs/decisions.md, "Least connections across instances".

/// What the choice needs to know about one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Passed its last health check (or has not failed one yet) and did not refuse the last
    /// connection.
    pub in_rotation: bool,
    /// Connections open to it now.
    pub active: u64,
}

/// The index of the instance for the next connection attempt, or None when every one was
/// tried already. `tried[i]`: instance `i` failed to connect during this connection's
/// attempts. Among untried instances in rotation: the fewest active connections, ties to the
/// first at or after `start` (callers pass a counter, so equal loads take turns). When none in
/// rotation is left, an untried one out of rotation: the health view may be a few seconds old,
/// and trying costs a connect while refusing costs the client its request.
pub fn choose(candidates: &[Candidate], tried: &[bool], start: usize) -> Option<usize> {
    let n = candidates.len();
    if n == 0 {
        return None;
    }
    let untried = |i: usize| !tried.get(i).copied().unwrap_or(false);
    let order = (0..n).map(|k| (start % n + k) % n);
    let best_of = |in_rotation: bool| {
        order
            .clone()
            .filter(|&i| untried(i) && candidates[i].in_rotation == in_rotation)
            // min_by_key keeps the first of equal keys: the one nearest after `start`.
            .min_by_key(|&i| candidates[i].active)
    };
    best_of(true).or_else(|| best_of(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(in_rotation: bool, active: u64) -> Candidate {
        Candidate {
            in_rotation,
            active,
        }
    }

    #[test]
    fn fewest_connections_win() {
        let cs = [c(true, 3), c(true, 1), c(true, 2)];
        for start in 0..6 {
            assert_eq!(choose(&cs, &[false; 3], start), Some(1), "{start}");
        }
    }

    #[test]
    fn equal_loads_take_turns() {
        let cs = [c(true, 0), c(true, 0), c(true, 0)];
        let picks: Vec<_> = (0..6)
            .map(|start| choose(&cs, &[false; 3], start).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        // Ties among the least loaded only.
        let cs = [c(true, 1), c(true, 0), c(true, 0)];
        let picks: Vec<_> = (0..3)
            .map(|start| choose(&cs, &[false; 3], start).unwrap())
            .collect();
        assert_eq!(picks, [1, 1, 2]);
    }

    #[test]
    fn out_of_rotation_only_when_nothing_else_is_left() {
        let cs = [c(false, 0), c(true, 5), c(false, 0)];
        assert_eq!(choose(&cs, &[false; 3], 0), Some(1));
        assert_eq!(
            choose(&cs, &[false, true, false], 0),
            Some(0),
            "the healthy one refused: try the others before giving up"
        );
        assert_eq!(choose(&cs, &[true, true, false], 0), Some(2));
        assert_eq!(choose(&cs, &[true; 3], 0), None);
        assert_eq!(choose(&[], &[], 7), None);
    }

    #[test]
    fn a_failed_instance_is_skipped_for_the_retry() {
        let cs = [c(true, 0), c(true, 0), c(true, 9)];
        assert_eq!(choose(&cs, &[false; 3], 0), Some(0));
        assert_eq!(choose(&cs, &[true, false, false], 0), Some(1));
        assert_eq!(choose(&cs, &[true, true, false], 0), Some(2));
        // A short `tried` (instances added meanwhile) counts as untried.
        assert_eq!(choose(&cs, &[true], 0), Some(1));
    }
}
