//! Command-line interface (the contract of DESIGN.md). Only wiring: parse flags, build the
//! pieces, run, print; errors are printed once, as a chain, with exit code 1.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
