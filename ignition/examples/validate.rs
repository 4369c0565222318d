//! `validate FILE...`: parses and validates Ignition configs like `ignition-validate` does,
//! printing one line per finding; exits 1 when any file is invalid or unreadable, else 0.
//! `-` reads standard input. With `--quiet`, prints nothing and only sets the exit code.

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

fn read(path: &str) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        return Ok(buf);
    }
    std::fs::read(path)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.iter().any(|a| a == "--quiet");
    let timing = args.iter().any(|a| a == "--time");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if files.is_empty() {
        eprintln!("usage: validate [--quiet] [--time] FILE...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    let prefix = |path: &str| {
        if files.len() > 1 {
            format!("{path}: ")
        } else {
            String::new()
        }
    };
    for path in &files {
        let path = path.as_str();
        let bytes = match read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: cannot read: {e}");
                ok = false;
                continue;
            }
        };
        let start = Instant::now();
        let result = solum_ignition::check(&bytes);
        if timing {
            eprintln!("{path}: parsed and validated in {:?}", start.elapsed());
        }
        match result {
            Ok(report) => {
                if !quiet {
                    for e in &report.entries {
                        println!("{}{e}", prefix(path));
                    }
                }
                ok &= !report.is_fatal();
            }
            Err(e) => {
                if !quiet {
                    println!("{}error: {e}", prefix(path));
                }
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
