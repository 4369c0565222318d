//! Polls against a real Heat (bench/heat-fleet.sh runs it; Heat and Keystone from
//! scripts/openstack-harness.sh), in two shapes:
//!
//! - `saturate`: C pollers in a closed loop for D seconds: how many polls per second Heat
//!   answers, and how long each took;
//! - `fleet`: M agents booted together for D seconds, each on its own schedule.
//!
//! Each poller is either solum-agent (`--style solum`: its `Schedule::spread` and its
//! collectors, the heat transport keeping its Keystone token) or os-collect-config 14.1
//! (`--style occ`: its schedule, 1 s doubling to 30 s, exact, after one random start-up
//! sleep of [0, --occ-splay); its requests: for cfn the same signed GET, for heat a version
//! discovery GET of auth_url, a password authentication and the metadata GET with the new token,
//! every poll, as its heat collector does without a keystone cache_dir).
//!
//! The transport's settings come from the server's `os-collect-config` block (a JSON file).
//! Prints one JSON object: polls answered, failed, latency percentiles, the worst second and
//! the steady rate of poll starts, the latest first poll answered. CPU of Heat and Keystone is
//! measured around this program by its caller.
//!
//!     heat_fleet saturate --config FILE --transport cfn|heat --style solum|occ --pollers C --seconds D
//!     heat_fleet fleet --config FILE --transport cfn|heat --style solum|occ --agents M --seconds D
//!         [--steady-from S] [--occ-splay S]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use solum_agent::collect::cfn::CfnCollector;
use solum_agent::collect::heatapi::HeatCollector;
use solum_agent::daemon::schedule::{self, Schedule};
use solum_agent::heat::document::{CfnSource, CollectConfig, HeatSource};
use solum_edge::keystone::{self, Auth, Project, User};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Saturate,
    Fleet,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Solum,
    Occ,
}

#[derive(Debug, Clone)]
enum Transport {
    Cfn(CfnSource),
    Heat(HeatSource),
}

#[derive(Debug)]
struct Args {
    shape: Shape,
    transport: Transport,
    style: Style,
    count: usize,
    seconds: u64,
    steady_from: u64,
    occ_splay: f64,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let shape = match it.next().as_deref() {
        Some("saturate") => Shape::Saturate,
        Some("fleet") => Shape::Fleet,
        other => return Err(format!("expected saturate or fleet, found {other:?}")),
    };
    let (mut config, mut transport, mut style) = (None, None, None);
    let (mut count, mut seconds, mut steady_from, mut occ_splay) = (None, 60, 60, 0.0);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |lo: u64, hi: u64| -> Result<u64, String> {
            v.parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or(format!("{flag}: {v:?} is not a number in {lo}..={hi}"))
        };
        match flag.as_str() {
            "--config" => config = Some(v.clone()),
            "--transport" => transport = Some(v.clone()),
            "--style" => {
                style = Some(match v.as_str() {
                    "solum" => Style::Solum,
                    "occ" => Style::Occ,
                    _ => return Err(format!("--style: {v:?} is not solum or occ")),
                })
            }
            "--pollers" | "--agents" => count = Some(num(1, 100_000)? as usize),
            "--seconds" => seconds = num(5, 3600)?,
            "--steady-from" => steady_from = num(0, 3599)?,
            "--occ-splay" => occ_splay = num(0, 3600)? as f64,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    let config = config.ok_or("--config FILE is required")?;
    let text = std::fs::read_to_string(&config).map_err(|e| format!("{config}: {e}"))?;
    let block: Value =
        serde_json::from_str(&text).map_err(|e| format!("{config}: not JSON: {e}"))?;
    let collect = CollectConfig::parse(&block);
    let transport = match transport.as_deref() {
        Some("cfn") => Transport::Cfn(
            collect
                .cfn
                .ok_or(format!("{config}: no usable cfn block"))?,
        ),
        Some("heat") => Transport::Heat(
            collect
                .heat
                .ok_or(format!("{config}: no usable heat block"))?,
        ),
        other => return Err(format!("--transport: {other:?} is not cfn or heat")),
    };
    Ok(Args {
        shape,
        transport,
        style: style.ok_or("--style solum|occ is required")?,
        count: count.ok_or("--pollers or --agents is required")?,
        seconds,
        steady_from: steady_from.min(seconds.saturating_sub(5)),
        occ_splay,
    })
}

/// os-collect-config's schedule (pure): `first` after a start-up sleep, then 1 s doubling to
/// `max`, never shorter again (it does not go back to 1 s after a change), never jittered.
struct OccSchedule {
    interval: Duration,
    max: Duration,
    next: Instant,
}

impl OccSchedule {
    fn new(max: Duration, boot: Instant, splay_s: f64, fraction: f64) -> OccSchedule {
        OccSchedule {
            interval: schedule::FIRST,
            max,
            next: boot + Duration::from_secs_f64(splay_s * fraction),
        }
    }

    fn record(&mut self, now: Instant) {
        self.next = now + self.interval;
        self.interval = (self.interval * 2).min(self.max);
    }
}

enum Plan {
    Solum(Schedule),
    Occ(OccSchedule),
    /// Closed loop: the next poll at once.
    Loop,
}

impl Plan {
    fn next_due(&self, now: Instant) -> Instant {
        match self {
            Plan::Solum(s) => s.next_due(),
            Plan::Occ(s) => s.next,
            Plan::Loop => now,
        }
    }

    fn record(&mut self, ok: bool, now: Instant) {
        match self {
            // The metadata does not change during a run: "changed" only on the first answer.
            Plan::Solum(s) => s.record(ok, false, now),
            Plan::Occ(s) => s.record(now),
            Plan::Loop => {}
        }
    }
}

enum Poller {
    Cfn(CfnCollector),
    SolumHeat(HeatCollector),
    OccHeat(HeatSource),
}

impl Poller {
    fn new(t: &Transport, style: Style) -> Poller {
        match (t, style) {
            (Transport::Cfn(c), _) => Poller::Cfn(CfnCollector::new(c.clone())),
            (Transport::Heat(h), Style::Solum) => Poller::SolumHeat(HeatCollector::new(h.clone())),
            (Transport::Heat(h), Style::Occ) => Poller::OccHeat(h.clone()),
        }
    }

    async fn poll(&mut self, client: &reqwest::Client) -> Result<(), String> {
        match self {
            Poller::Cfn(c) => c.poll(client).await.map(drop).map_err(|e| e.to_string()),
            Poller::SolumHeat(c) => c.poll(client).await.map(drop).map_err(|e| e.to_string()),
            Poller::OccHeat(h) => occ_heat_poll(client, h).await,
        }
    }
}

/// What os-collect-config's heat collector sends each poll: keystoneclient's version
/// discovery of auth_url, a password token, the metadata GET with that token.
async fn occ_heat_poll(client: &reqwest::Client, h: &HeatSource) -> Result<(), String> {
    let status = |r: reqwest::Response| {
        if r.status().is_success() {
            Ok(r)
        } else {
            Err(format!("HTTP {}", r.status()))
        }
    };
    let discovery = client
        .get(&h.auth_url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    // 300 Multiple Choices is a version list too.
    if !(discovery.status().is_success() || discovery.status().as_u16() == 300) {
        return Err(format!("discovery: HTTP {}", discovery.status()));
    }
    let _ = discovery.bytes().await;
    let auth = Auth::Password {
        user: User::Id(h.user_id.clone()),
        password: h.password.expose().to_string(),
        project: Some(Project::Id(h.project_id.clone())),
    };
    let token = keystone::authenticate(client, &h.auth_url, &auth)
        .await
        .map_err(|e| e.to_string())?;
    let heat = token
        .endpoint("orchestration", "public", h.region_name.as_deref())
        .ok_or("no orchestration endpoint")?;
    let r = client
        .get(format!(
            "{heat}/stacks/{}/resources/{}/metadata",
            h.stack_id, h.resource_name
        ))
        .header("X-Auth-Token", &token.token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let r = status(r)?;
    let _ = r.bytes().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[derive(Default)]
struct Record {
    /// (start ms since boot, latency ms, ok)
    polls: Vec<(u64, u64, bool)>,
    first_answered_ms: Vec<u64>,
    errors: std::collections::BTreeMap<String, u64>,
}

/// Pure: the value at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Pure: the most of sorted `ms` inside any `width` ms.
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

fn summary(args: &Args, r: &Record) -> Value {
    let mut lat: Vec<u64> = r.polls.iter().filter(|p| p.2).map(|p| p.1).collect();
    lat.sort_unstable();
    let mut starts: Vec<u64> = r.polls.iter().map(|p| p.0).collect();
    starts.sort_unstable();
    let from = starts.partition_point(|t| *t < args.steady_from * 1000);
    let steady = &starts[from..];
    let steady_s = (args.seconds - args.steady_from).max(1) as f64;
    let ok = lat.len();
    json!({
        "polls_ok": ok,
        "polls_failed": r.polls.len() - ok,
        "ok_per_s": ok as f64 / args.seconds as f64,
        "latency_ms": {"p50": quantile(&lat, 0.5), "p90": quantile(&lat, 0.9),
                       "p99": quantile(&lat, 0.99), "max": lat.last().copied().unwrap_or(0)},
        "starts_worst_1s": peak_in_window(&starts, 1000),
        "starts_worst_100ms": peak_in_window(&starts, 100),
        "steady_starts_per_s": steady.len() as f64 / steady_s,
        "steady_starts_worst_1s": peak_in_window(steady, 1000),
        "first_answered_max_ms": r.first_answered_ms.iter().max().copied().unwrap_or(0),
        "errors": r.errors,
    })
}

async fn run(args: Args) -> Value {
    let client = solum_agent::daemon::http_client();
    let record = Arc::new(Mutex::new(Record::default()));
    let boot = Instant::now() + Duration::from_millis(300 + args.count as u64 / 10);
    let end = boot + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    let mut rng = fastrand::Rng::new();
    for _ in 0..args.count {
        let mut plan = match (args.shape, args.style) {
            (Shape::Saturate, _) => Plan::Loop,
            (Shape::Fleet, Style::Solum) => {
                Plan::Solum(Schedule::spread(schedule::DEFAULT_MAX, boot))
            }
            (Shape::Fleet, Style::Occ) => Plan::Occ(OccSchedule::new(
                schedule::DEFAULT_MAX,
                boot,
                args.occ_splay,
                rng.f64(),
            )),
        };
        let mut poller = Poller::new(&args.transport, args.style);
        let (client, record) = (client.clone(), record.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(boot).await;
            let ms = |t: Instant| t.saturating_duration_since(boot).as_millis() as u64;
            let mut first = true;
            loop {
                let due = plan.next_due(Instant::now());
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due).await;
                let start = Instant::now();
                let result = poller.poll(&client).await;
                let now = Instant::now();
                {
                    let mut r = record.lock().expect("record");
                    r.polls
                        .push((ms(start), (now - start).as_millis() as u64, result.is_ok()));
                    if first && result.is_ok() {
                        r.first_answered_ms.push(ms(now));
                        first = false;
                    }
                    if let Err(e) = &result {
                        *r.errors.entry(e.chars().take(120).collect()).or_default() += 1;
                    }
                }
                plan.record(result.is_ok(), now);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let r = record.lock().expect("record");
    summary(&args, &r)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    match parse_args(std::env::args().skip(1)) {
        Ok(args) => println!("{}", run(args).await),
        Err(e) => {
            eprintln!("heat_fleet: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occ_schedule_doubles_and_never_resets() {
        let boot = Instant::now();
        let mut s = OccSchedule::new(Duration::from_secs(30), boot, 10.0, 0.5);
        assert_eq!(s.next, boot + Duration::from_secs(5), "one start-up sleep");
        let mut pauses = Vec::new();
        for _ in 0..7 {
            let now = s.next;
            s.record(now);
            pauses.push((s.next - now).as_secs());
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn quantiles_and_windows() {
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.5), 3);
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 1.0), 5);
        assert_eq!(peak_in_window(&[0, 999, 1000, 1001], 1000), 3);
    }

    #[test]
    fn arguments_name_what_is_wrong() {
        let e = parse_args(["walk"].map(String::from).into_iter()).unwrap_err();
        assert!(e.contains("saturate or fleet"), "{e}");
        let e = parse_args(["fleet", "--agents", "0"].map(String::from).into_iter()).unwrap_err();
        assert!(e.contains("--agents"), "{e}");
        let e = parse_args(["fleet", "--agents", "5"].map(String::from).into_iter()).unwrap_err();
        assert!(e.contains("--config FILE"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("occ.json");
        std::fs::write(&f, r#"{"heat": {"auth_url": null}}"#).unwrap();
        let e = parse_args(
            [
                "fleet",
                "--agents",
                "5",
                "--style",
                "solum",
                "--transport",
                "heat",
                "--config",
            ]
            .map(String::from)
            .into_iter()
            .chain([f.display().to_string()]),
        )
        .unwrap_err();
        assert!(e.contains("no usable heat block"), "{e}");
    }
}
