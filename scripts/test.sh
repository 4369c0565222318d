#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit tests and the end-to-end suites
# against the real Docker engine, git, mmdebstrap and ignition-validate. Nothing is skipped:
# a test whose tool is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace --no-fail-fast -- --test-threads "${SOLUM_TEST_THREADS:-4}"
