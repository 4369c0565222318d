//! A simulated fleet: N agents (tokio tasks in one process, default 10,000) that booted at the
//! same instant poll one fixture Heat over the cfn transport with the agent's own code
//! (`daemon::schedule::Schedule`, `collect::cfn::CfnCollector`), once with the schedule's
//! spreading (`Schedule::spread`: first poll within 2 s, jittered pauses) and once without
//! (`Schedule::exact`: every agent at the same instants, os-collect-config's way without its
//! `--splay`). Each agent notes when it sends each poll, and the fixture (`solum_tests::fixture`,
//! in-process, std threads) timestamps every request it receives: the first is what the
//! fleet asks of Heat, the second what this fixture could take in (a herd larger than it
//! accepts per second is smeared by its queue, as it would be by Heat's). Printed per mode,
//! for both: the steady state's mean rate and worst second (from `--steady-from` to the end),
//! the worst 100 ms of the whole run; and each agent's first poll: the latest one planned and
//! the latest one answered, from the boot instant.
//!
//! Run: `cargo run --release -p solum-agent --example fleet -- [--agents N] [--seconds S]
//! [--steady-from S] [--max-interval M] [--splay on|off|both]` (or `bench/agent-fleet.sh`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use solum_agent::collect::cfn::CfnCollector;
use solum_agent::collect::Poll;
use solum_agent::daemon::schedule::Schedule;
use solum_agent::heat::document::CfnSource;
use solum_agent::planfile::Secret;
use solum_tests::fixture::Fixture;
use tokio::time::Instant;

#[derive(Debug)]
struct Args {
    agents: usize,
    seconds: u64,
    steady_from: u64,
    max_interval: u64,
    modes: Vec<bool>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        agents: 10_000,
        seconds: 180,
        steady_from: 60,
        max_interval: 30,
        modes: vec![true, false],
    };
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |lo: u64, hi: u64| -> Result<u64, String> {
            v.parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or(format!("{flag}: {v:?} is not a number in {lo}..={hi}"))
        };
        match flag.as_str() {
            "--agents" => a.agents = num(1, 100_000)? as usize,
            "--seconds" => a.seconds = num(10, 3600)?,
            "--steady-from" => a.steady_from = num(0, 3599)?,
            "--max-interval" => a.max_interval = num(1, 600)?,
            "--splay" => {
                a.modes = match v.as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![true, false],
                    _ => return Err(format!("--splay: {v:?} is not on, off or both")),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if a.steady_from + 10 > a.seconds {
        return Err(format!(
            "--steady-from {} leaves less than 10 s of the {} s run",
            a.steady_from, a.seconds
        ));
    }
    Ok(a)
}

/// Pure: the most timestamps (ms, sorted) inside any window of `width` ms.
fn peak_in_window(sorted_ms: &[u64], width: u64) -> usize {
    let (mut best, mut lo) = (0, 0);
    for hi in 0..sorted_ms.len() {
        while sorted_ms[hi] - sorted_ms[lo] >= width {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Pure: figures for one mode from sorted arrival times (ms since the fleet booted).
#[derive(Debug, PartialEq)]
struct Figures {
    total: usize,
    steady_rps: f64,
    steady_peak_1s: usize,
    peak_100ms: usize,
    peak_1s: usize,
}

impl Figures {
    fn worst_over_mean(&self) -> f64 {
        self.steady_peak_1s as f64 / self.steady_rps
    }
}

fn figures(sorted_ms: &[u64], steady_from_s: u64, seconds: u64) -> Figures {
    let from = sorted_ms.partition_point(|t| *t < steady_from_s * 1000);
    let to = sorted_ms.partition_point(|t| *t < seconds * 1000);
    let steady = &sorted_ms[from..to];
    Figures {
        total: sorted_ms.len(),
        steady_rps: steady.len() as f64 / (seconds - steady_from_s) as f64,
        steady_peak_1s: peak_in_window(steady, 1000),
        peak_100ms: peak_in_window(sorted_ms, 100),
        peak_1s: peak_in_window(sorted_ms, 1000),
    }
}

/// What the agents saw of their first poll (ms since boot, the latest over the fleet).
#[derive(Debug, Default)]
struct FirstPoll {
    planned_max_ms: AtomicU64,
    answered_max_ms: AtomicU64,
}

struct Measured {
    sent: Figures,
    received: Figures,
    first: Arc<FirstPoll>,
    failed: u64,
}

async fn run_mode(args: &Args, spread: bool) -> Result<Measured, String> {
    let fx = Fixture::start();
    let (ak, sk, stack) = ("AKIAFLEET", "fleet-secret", "fleet-stack");
    fx.with(|w| {
        w.cfn_access_key = ak.into();
        w.cfn_secret_key = sk.into();
        w.stack_name = stack.into();
        w.resource = "server".into();
        w.metadata = json!({"os-collect-config": {"collectors": ["cfn"], "cfn": {
            "metadata_url": format!("http://127.0.0.1:{}/v1/", fx.port), "access_key_id": ak,
            "secret_access_key": sk, "stack_name": stack, "path": "server.Metadata"}},
            "deployments": []});
    });
    // As the daemon builds its client; one per agent would only add memory.
    let client = solum_agent::daemon::http_client();
    let failures = Arc::new(AtomicU64::new(0));
    let first = Arc::new(FirstPoll::default());
    let max = Duration::from_secs(args.max_interval);
    // Every agent boots at `boot`, after all tasks exist.
    let boot = Instant::now() + Duration::from_millis(500 + args.agents as u64 / 10);
    let end = boot + Duration::from_secs(args.seconds);
    let mut tasks = Vec::with_capacity(args.agents);
    for _ in 0..args.agents {
        let (client, failures, first) = (client.clone(), failures.clone(), first.clone());
        let mut collector = CfnCollector::new(CfnSource {
            metadata_url: fx.url("/v1/"),
            access_key_id: ak.into(),
            secret_access_key: Secret(sk.into()),
            stack_name: stack.into(),
            path: "server.Metadata".into(),
        });
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(boot).await;
            let mut schedule = if spread {
                Schedule::spread(max, boot)
            } else {
                Schedule::exact(max, boot)
            };
            let ms = |t: Instant| t.saturating_duration_since(boot).as_millis() as u64;
            first
                .planned_max_ms
                .fetch_max(ms(schedule.next_due()), Ordering::Relaxed);
            let mut latest = None;
            let mut sent = Vec::new();
            loop {
                let due = schedule.next_due();
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due).await;
                sent.push(ms(Instant::now()));
                let result = collector.poll(&client).await;
                let now = Instant::now();
                if sent.len() == 1 {
                    first.answered_max_ms.fetch_max(ms(now), Ordering::Relaxed);
                }
                match result {
                    Ok(Poll::Document(doc)) => {
                        let changed = latest.as_ref() != Some(&doc);
                        latest = Some(doc);
                        schedule.record(true, changed, now);
                    }
                    Ok(Poll::Unchanged) => schedule.record(true, false, now),
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        schedule.record(false, false, now);
                    }
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.map_err(|e| format!("agent task: {e}"))?);
    }
    sent.sort_unstable();
    let boot = boot.into_std();
    let (mut ms, refused) = fx.with(|w| {
        let ms: Vec<u64> = w
            .requests
            .iter()
            .filter(|r| r.path == "/v1/")
            .map(|r| r.received.saturating_duration_since(boot).as_millis() as u64)
            .collect();
        let refused = w.requests.iter().filter(|r| r.status != 200).count();
        w.requests = Vec::new();
        (ms, refused)
    });
    if refused > 0 {
        return Err(format!(
            "the fixture refused {refused} polls (signature or stack mismatch)"
        ));
    }
    ms.sort_unstable();
    Ok(Measured {
        sent: figures(&sent, args.steady_from, args.seconds),
        received: figures(&ms, args.steady_from, args.seconds),
        first,
        failed: failures.load(Ordering::Relaxed),
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fleet: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "fleet: {} agents booted together, {} s (steady state from {} s), max interval {} s, cfn transport; load average {}",
        args.agents, args.seconds, args.steady_from, args.max_interval, load_average()
    );
    println!("Sent: when the agents sent their polls; received: when the fixture took them in.");
    println!("| agents | spread | polls | mean req/s, steady | worst 1 s, steady: sent / received | worst / mean, sent / received | worst 100 ms overall: sent / received | worst 1 s overall: sent / received | first poll: latest planned / answered | failed polls | load after |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &spread in &args.modes {
        match run_mode(&args, spread).await {
            Ok(m) => println!(
                "| {} | {} | {} | {:.1} | {} / {} | {:.2}x / {:.2}x | {} / {} | {} / {} | {:.2} s / {:.2} s | {} | {} |",
                args.agents,
                if spread { "on" } else { "off" },
                m.sent.total,
                m.sent.steady_rps,
                m.sent.steady_peak_1s,
                m.received.steady_peak_1s,
                m.sent.worst_over_mean(),
                m.received.worst_over_mean(),
                m.sent.peak_100ms,
                m.received.peak_100ms,
                m.sent.peak_1s,
                m.received.peak_1s,
                m.first.planned_max_ms.load(Ordering::Relaxed) as f64 / 1000.0,
                m.first.answered_max_ms.load(Ordering::Relaxed) as f64 / 1000.0,
                m.failed,
                load_average(),
            ),
            Err(e) => {
                eprintln!("fleet: {e}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_window_counts_the_densest_stretch() {
        assert_eq!(peak_in_window(&[], 100), 0);
        assert_eq!(peak_in_window(&[5], 100), 1);
        assert_eq!(peak_in_window(&[0, 50, 99, 100, 150, 400], 100), 3);
        assert_eq!(peak_in_window(&[0, 100, 200, 300], 100), 1);
    }

    #[test]
    fn figures_take_the_steady_state_from_its_start() {
        // Boot storm of 4 in the first 100 ms, then 1 a second from 10 s, 2 in one second at 15 s.
        let ms = [
            0, 10, 20, 90, 10_000, 11_000, 12_000, 13_000, 14_000, 15_000, 15_500, 19_999,
        ];
        let f = figures(&ms, 10, 20);
        assert_eq!(f.total, 12);
        assert_eq!(f.peak_100ms, 4);
        assert_eq!(f.peak_1s, 4);
        assert!((f.steady_rps - 0.8).abs() < 1e-9);
        assert_eq!(f.steady_peak_1s, 2);
        assert!((f.worst_over_mean() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn arguments_are_bounded() {
        let a = parse_args(
            ["--agents", "10", "--splay", "off"]
                .map(String::from)
                .into_iter(),
        )
        .unwrap();
        assert_eq!(a.agents, 10);
        assert_eq!(a.modes, vec![false]);
        assert!(parse_args(["--agents", "0"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--agents", "100001"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--seconds", "1e9"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--splay", "sometimes"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--agents"].map(String::from).into_iter()).is_err());
        let e = parse_args(
            ["--seconds", "60", "--steady-from", "55"]
                .map(String::from)
                .into_iter(),
        )
        .unwrap_err();
        assert!(e.contains("less than 10 s"), "{e}");
    }
}
