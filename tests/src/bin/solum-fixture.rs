//! `solum-fixture`: the test fixture (`solum_tests::fixture`) as a standalone process, for
//! benchmarks that poll it from other processes (solum-agent, os-collect-config).
//!
//! Usage: `solum-fixture --world FILE [--report FILE] [--max-seconds N] [--run-while FILE]`
//!
//! The world file is JSON with the keys `cfn_access_key`, `cfn_secret_key`, `stack_name`,
//! `resource`, `metadata`, `meta_data` and `user_data` (a string); the text `@PORT@` anywhere in
//! it is replaced by the fixture's port first. The port is printed on stdout as `port=N`. The
//! fixture serves until its stdin reaches end of file (or, with `--run-while FILE`, until that
//! file is removed) or `--max-seconds` (default 3600) pass, then writes the report: every request with its arrival time (ms since start), path, status
//! and User-Agent, and counts per User-Agent.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use solum_tests::fixture::{Fixture, World};

#[derive(Debug)]
struct Args {
    world: PathBuf,
    report: Option<PathBuf>,
    max: Duration,
    run_while: Option<PathBuf>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut world, mut report, mut max) = (None, None, Duration::from_secs(3600));
    let mut run_while = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--world" => world = Some(PathBuf::from(value("--world")?)),
            "--report" => report = Some(PathBuf::from(value("--report")?)),
            "--run-while" => run_while = Some(PathBuf::from(value("--run-while")?)),
            "--max-seconds" => {
                let v = value("--max-seconds")?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--max-seconds: {v:?} is not a number of seconds"))?;
                max = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        world: world.ok_or("--world FILE is required")?,
        report,
        max,
        run_while,
    })
}

/// Fills `w` from the world file's JSON (already with the port substituted).
fn apply_world(w: &mut World, v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("the world file is not a JSON object")?;
    let text = |k: &str| -> Result<Option<String>, String> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("world file: {k} must be a string")),
        }
    };
    for k in o.keys() {
        let known = [
            "cfn_access_key",
            "cfn_secret_key",
            "stack_name",
            "resource",
            "metadata",
            "meta_data",
            "user_data",
        ];
        if !known.contains(&k.as_str()) {
            return Err(format!(
                "world file: unknown key {k:?} (known: {})",
                known.join(", ")
            ));
        }
    }
    if let Some(s) = text("cfn_access_key")? {
        w.cfn_access_key = s;
    }
    if let Some(s) = text("cfn_secret_key")? {
        w.cfn_secret_key = s;
    }
    if let Some(s) = text("stack_name")? {
        w.stack_name = s;
    }
    if let Some(s) = text("resource")? {
        w.resource = s;
    }
    if let Some(s) = text("user_data")? {
        w.user_data = Some(s.into_bytes());
    }
    if let Some(m) = o.get("metadata") {
        w.metadata = m.clone();
    }
    if let Some(m) = o.get("meta_data") {
        w.meta_data = Some(m.clone());
    }
    Ok(())
}

/// Pure: the report of what was received, `t_ms` relative to `start`.
fn report(start: Instant, reqs: &[(Instant, String, u16, String)]) -> Value {
    let mut per_agent: BTreeMap<&str, u64> = BTreeMap::new();
    let list: Vec<Value> = reqs
        .iter()
        .map(|(at, path, status, ua)| {
            *per_agent.entry(ua.as_str()).or_default() += 1;
            json!({"t_ms": at.saturating_duration_since(start).as_millis() as u64,
                   "path": path, "status": status, "user_agent": ua})
        })
        .collect();
    json!({"total": reqs.len(), "per_user_agent": per_agent, "requests": list})
}

fn run() -> Result<(), String> {
    let args = parse_args(std::env::args().skip(1))?;
    let text = std::fs::read_to_string(&args.world)
        .map_err(|e| format!("reading {}: {e}", args.world.display()))?;
    let fx = Fixture::start();
    let start = Instant::now();
    let world: Value = serde_json::from_str(&text.replace("@PORT@", &fx.port.to_string()))
        .map_err(|e| format!("{}: not JSON: {e}", args.world.display()))?;
    fx.with(|w| apply_world(w, &world))
        .map_err(|e| format!("{}: {e}", args.world.display()))?;
    println!("port={}", fx.port);
    std::io::stdout().flush().map_err(|e| e.to_string())?;

    let (tx, rx) = std::sync::mpsc::channel::<()>();
    match args.run_while.clone() {
        Some(file) => std::thread::spawn(move || {
            while file.exists() {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = tx.send(());
        }),
        None => std::thread::spawn(move || {
            let mut sink = [0u8; 512];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send(());
        }),
    };
    let _ = rx.recv_timeout(args.max);

    if let Some(path) = &args.report {
        let reqs: Vec<(Instant, String, u16, String)> = fx.with(|w| {
            w.requests
                .iter()
                .map(|r| {
                    let ua = r.headers.get("user-agent").cloned().unwrap_or_default();
                    (r.received, r.path.clone(), r.status, ua)
                })
                .collect()
        });
        let body = report(start, &reqs).to_string();
        std::fs::write(path, body).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("solum-fixture: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments_are_checked() {
        let a = args(&["--world", "w.json", "--max-seconds", "5"]).unwrap();
        assert_eq!(a.world, PathBuf::from("w.json"));
        assert_eq!(a.max, Duration::from_secs(5));
        assert!(a.report.is_none());
        assert!(a.run_while.is_none());
        let a = args(&["--run-while", "f", "--world", "w", "--report", "r"]).unwrap();
        assert_eq!(a.run_while, Some(PathBuf::from("f")));
        assert_eq!(a.report, Some(PathBuf::from("r")));
        assert!(args(&[]).unwrap_err().contains("--world"));
        assert!(args(&["--world"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--world", "w", "--max-seconds", "x"])
            .unwrap_err()
            .contains("not a number"));
        assert!(args(&["--bogus"]).unwrap_err().contains("--bogus"));
    }

    #[test]
    fn world_file_fills_the_world_and_refuses_unknown_keys() {
        let mut w = World::default();
        apply_world(
            &mut w,
            &json!({"cfn_access_key": "AK", "stack_name": "st", "metadata": {"a": 1}, "user_data": "ud"}),
        )
        .unwrap();
        assert_eq!(w.cfn_access_key, "AK");
        assert_eq!(w.stack_name, "st");
        assert_eq!(w.metadata, json!({"a": 1}));
        assert_eq!(w.user_data.as_deref(), Some(&b"ud"[..]));
        assert!(apply_world(&mut w, &json!({"nope": 1}))
            .unwrap_err()
            .contains("nope"));
        assert!(apply_world(&mut w, &json!({"stack_name": 3}))
            .unwrap_err()
            .contains("stack_name"));
        assert!(apply_world(&mut w, &json!([])).is_err());
    }

    #[test]
    fn report_counts_per_user_agent() {
        let t0 = Instant::now();
        let r = report(
            t0,
            &[
                (
                    t0 + Duration::from_millis(5),
                    "/v1/".into(),
                    200,
                    "a".into(),
                ),
                (
                    t0 + Duration::from_millis(9),
                    "/v1/".into(),
                    403,
                    "b".into(),
                ),
                (
                    t0 + Duration::from_millis(12),
                    "/v1/".into(),
                    200,
                    "a".into(),
                ),
            ],
        );
        assert_eq!(r["total"], 3);
        assert_eq!(r["per_user_agent"], json!({"a": 2, "b": 1}));
        assert_eq!(r["requests"][1]["t_ms"], 9);
        assert_eq!(r["requests"][1]["status"], 403);
    }
}
