#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit tests and the end-to-end suites
# against the real Docker engine, git, mmdebstrap and ignition-validate; shellcheck over the
# shell scripts (scripts/shellcheck.sh). Nothing is skipped: a test whose tool is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
./scripts/shellcheck.sh
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace --no-fail-fast -- --test-threads "${SOLUM_TEST_THREADS:-4}"
# Every fuzz target under afl-fuzz for a few seconds from its seeds (fuzz/README.md): a crash,
# a hang over 1 s or 256 MiB fails. The instrumented build is made at opt-level 1 (about a third
# less CPU than the campaign's 3) in a directory kept across runs, so that a later run rebuilds
# only the workspace's crates.
AFL_OPT_LEVEL=${AFL_OPT_LEVEL:-1} \
  SOLUM_FUZZ_TARGET_DIR=${SOLUM_FUZZ_TARGET_DIR:-/var/cache/solum-test/afl-target} \
  ./scripts/fuzz.sh --seconds "${SOLUM_FUZZ_SECONDS:-4}"
