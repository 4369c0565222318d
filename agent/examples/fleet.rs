//! A simulated fleet: N agents (tokio tasks in one process, default 1,000) that booted at the
//! same instant poll one fixture Heat over the cfn transport with the agent's own code
//! (`daemon::schedule::Schedule`, `collect::cfn::CfnCollector`), once with the schedule's
//! splay and once without. The fixture (`solum_tests::fixture`, in-process, std threads)
//! timestamps every request; printed per mode: requests, mean rate, peak 100 ms and 1 s
//! windows (over the whole run and after every agent's first poll), client-side failures.
//!
//! Run: `cargo run --release -p solum-agent --example fleet -- [--agents N] [--seconds S]
//! [--max-interval M] [--splay on|off|both]` (or `bench/agent-fleet.sh`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use solum_agent::collect::cfn::CfnCollector;
use solum_agent::collect::Poll;
use solum_agent::daemon::schedule::Schedule;
use solum_agent::heat::document::CfnSource;
use solum_agent::planfile::Secret;
use solum_tests::fixture::Fixture;

#[derive(Debug)]
struct Args {
    agents: usize,
    seconds: u64,
    max_interval: u64,
    modes: Vec<bool>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        agents: 1000,
        seconds: 90,
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
            "--agents" => a.agents = num(1, 5000)? as usize,
            "--seconds" => a.seconds = num(5, 600)?,
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

/// Pure: figures for one mode from sorted arrival times (ms since the fleet's start).
#[derive(Debug, PartialEq)]
struct Figures {
    total: usize,
    mean_rps: f64,
    second_half_rps: f64,
    peak_100ms: usize,
    peak_1s: usize,
    first_round_done_ms: Option<u64>,
    peak_100ms_after_first: usize,
    peak_1s_after_first: usize,
    peak_100ms_second_half: usize,
    peak_1s_second_half: usize,
}

fn figures(sorted_ms: &[u64], agents: usize, seconds: u64) -> Figures {
    let half = seconds * 500;
    let late: Vec<u64> = sorted_ms.iter().copied().filter(|t| *t >= half).collect();
    let second_half = late.len();
    // The first `agents` arrivals are every agent's first poll when the boot storm is served
    // before anyone's second poll (checked by the caller through first_round_done_ms < 1 s).
    let after = sorted_ms.get(agents..).unwrap_or(&[]);
    Figures {
        total: sorted_ms.len(),
        mean_rps: sorted_ms.len() as f64 / seconds as f64,
        second_half_rps: second_half as f64 / (seconds as f64 / 2.0),
        peak_100ms: peak_in_window(sorted_ms, 100),
        peak_1s: peak_in_window(sorted_ms, 1000),
        first_round_done_ms: sorted_ms.get(agents.saturating_sub(1)).copied(),
        peak_100ms_after_first: peak_in_window(after, 100),
        peak_1s_after_first: peak_in_window(after, 1000),
        peak_100ms_second_half: peak_in_window(&late, 100),
        peak_1s_second_half: peak_in_window(&late, 1000),
    }
}

async fn run_mode(args: &Args, splay: bool) -> Result<(Figures, u64), String> {
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
    // As the daemon builds its client.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent("solum-agent-fleet")
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let failures = Arc::new(AtomicU64::new(0));
    let go = Arc::new(tokio::sync::Barrier::new(args.agents + 1));
    let max = Duration::from_secs(args.max_interval);
    let run_for = Duration::from_secs(args.seconds);
    let mut tasks = Vec::with_capacity(args.agents);
    for _ in 0..args.agents {
        let (client, failures, go) = (client.clone(), failures.clone(), go.clone());
        let mut collector = CfnCollector::new(CfnSource {
            metadata_url: fx.url("/v1/"),
            access_key_id: ak.into(),
            secret_access_key: Secret(sk.into()),
            stack_name: stack.into(),
            path: "server.Metadata".into(),
        });
        tasks.push(tokio::spawn(async move {
            go.wait().await;
            let end = tokio::time::Instant::now() + run_for;
            let mut schedule = Schedule::new(max).splay(splay);
            let mut latest: Option<Value> = None;
            loop {
                let due = schedule.next_due();
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due).await;
                match collector.poll(&client).await {
                    Ok(Poll::Document(doc)) => {
                        let changed = latest.as_ref() != Some(&doc);
                        latest = Some(doc);
                        schedule.record(true, changed, tokio::time::Instant::now());
                    }
                    Ok(Poll::Unchanged) => {
                        schedule.record(true, false, tokio::time::Instant::now())
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        schedule.record(false, false, tokio::time::Instant::now());
                    }
                }
            }
        }));
    }
    go.wait().await;
    let start = Instant::now();
    for t in tasks {
        t.await.map_err(|e| format!("agent task: {e}"))?;
    }
    let mut ms: Vec<u64> = fx.with(|w| {
        w.requests
            .iter()
            .filter(|r| r.path == "/v1/")
            .map(|r| r.received.saturating_duration_since(start).as_millis() as u64)
            .collect()
    });
    ms.sort_unstable();
    let refused = fx.with(|w| w.requests.iter().filter(|r| r.status != 200).count());
    if refused > 0 {
        return Err(format!(
            "the fixture refused {refused} polls (signature or stack mismatch)"
        ));
    }
    Ok((
        figures(&ms, args.agents, args.seconds),
        failures.load(Ordering::Relaxed),
    ))
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
        "fleet: {} agents booted together, {} s, poll_max_interval {} s, cfn transport",
        args.agents, args.seconds, args.max_interval
    );
    println!("| splay | polls | mean req/s | req/s, 2nd half | peak 100 ms | peak 1 s | first round served by | peak 100 ms / 1 s after it | peak 100 ms / 1 s in 2nd half | failed polls |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &splay in &args.modes {
        match run_mode(&args, splay).await {
            Ok((f, failed)) => println!(
                "| {} | {} | {:.1} | {:.1} | {} | {} | {} | {} / {} | {} / {} | {} |",
                if splay { "on (0-20 %)" } else { "off" },
                f.total,
                f.mean_rps,
                f.second_half_rps,
                f.peak_100ms,
                f.peak_1s,
                f.first_round_done_ms
                    .map(|t| format!("{t} ms"))
                    .unwrap_or_else(|| "-".into()),
                f.peak_100ms_after_first,
                f.peak_1s_after_first,
                f.peak_100ms_second_half,
                f.peak_1s_second_half,
                failed
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
    fn figures_split_the_first_round() {
        // 3 agents: first polls at 0-20 ms, then 2 in the same 100 ms at 1000 ms, 1 at 3000.
        let f = figures(&[0, 10, 20, 1000, 1050, 3000], 3, 4);
        assert_eq!(f.total, 6);
        assert_eq!(f.peak_100ms, 3);
        assert_eq!(f.first_round_done_ms, Some(20));
        assert_eq!(f.peak_100ms_after_first, 2);
        assert_eq!(f.peak_1s_after_first, 2);
        assert!((f.mean_rps - 1.5).abs() < 1e-9);
        assert!((f.second_half_rps - 0.5).abs() < 1e-9);
        assert_eq!(f.peak_100ms_second_half, 1);
        assert_eq!(f.peak_1s_second_half, 1);
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
        assert!(parse_args(["--seconds", "1e9"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--splay", "sometimes"].map(String::from).into_iter()).is_err());
        assert!(parse_args(["--agents"].map(String::from).into_iter()).is_err());
    }
}
