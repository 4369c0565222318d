//! The solum-agent binary: parses the command line (`args`) and hands over to `cli`.

mod args;
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
