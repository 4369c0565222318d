#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ under afl-fuzz (cargo-afl, stable Rust), one after the other,
# each for a fixed time from its seed corpus fuzz/corpus/TARGET, with afl's limits of 1 s per
# input (-t 1000) and 256 MiB of memory (-m 256: an allocation past it aborts, a crash).
# Prints one table row per target (seconds, executions, crashes, hangs, peak RSS) and, for
# every crash or hang, the input and the command that replays it. Exits 1 when any target
# crashed, hung or could not start (a seed that crashes or times out stops afl at once).
#
# Usage: scripts/fuzz.sh [--seconds N] [--out DIR] [--table FILE] [TARGET...]
#   --seconds N   fuzzing time per target (default 10)
#   --out DIR     afl's output directories DIR/TARGET (default: a temporary directory, removed
#                 at the end unless something was found)
#   --table FILE  also write the table (Markdown) to FILE
#   TARGET...     targets to run (default: every directory of fuzz/corpus)
# Environment: SOLUM_FUZZ_NICE (niceness of afl-fuzz, default 19), AFL_OPT_LEVEL (opt-level of
# the instrumented build, default 3), SOLUM_FUZZ_TARGET_DIR (where it is built, default
# $CARGO_TARGET_DIR/afl; -oN is appended for another opt-level).
# Needs cargo-afl (scripts/setup.sh installs it). Replay one input without afl:
#   target/afl/release/solum-fuzz-afl TARGET --replay FILE
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
out=
table=
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --table) table=${2:?--table needs a file}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$seconds" in ''|*[!0-9]*|0) echo "fuzz.sh: --seconds must be a positive whole number" >&2; exit 2 ;; esac
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(find fuzz/corpus -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
fi
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz.sh: no target $t (no fuzz/corpus/$t)" >&2; exit 2; }
done
command -v cargo-afl >/dev/null || { echo "fuzz.sh: cargo-afl is missing: run scripts/setup.sh" >&2; exit 1; }

# One build directory per opt-level, so that CI's cheaper build and the campaign's do not
# rebuild each other.
opt=${AFL_OPT_LEVEL:-3}
export AFL_OPT_LEVEL=$opt
target_dir=${SOLUM_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/afl}
[ "$opt" = 3 ] || target_dir=$target_dir-o$opt
echo "fuzz.sh: building the instrumented harness (cargo afl build, opt-level $opt)"
cargo afl build --release -q -p solum-fuzz --features afl --bin solum-fuzz-afl --target-dir "$target_dir"
bin=$target_dir/release/solum-fuzz-afl

keep=1
if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/solum-fuzz.XXXXXX)
  keep=0
fi
mkdir -p "$out"
# Targets that write files (tarball extraction, config drive images) work in a scratch
# directory on tmpfs when there is one.
scratch=$(mktemp -d /dev/shm/solum-fuzz-tmp.XXXXXX 2>/dev/null || mktemp -d /tmp/solum-fuzz-tmp.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# Machine-wide settings afl-fuzz would ask for (core_pattern, CPU governor) are not ours to
# change on a shared host; two cores are shared, so no CPU binding.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_FAST_CAL=1 AFL_QUIET=1

field() { sed -n "s/^$2 *: *//p" "$1" | head -n1; }

header='| target | seconds | executions | execs/s | crashes | hangs | peak RSS (MiB) | corpus |'
rows=("$header" '|---|---:|---:|---:|---:|---:|---:|---:|')
failed=0
bad=0
found=()
for t in "${targets[@]}"; do
  dir=$out/$t
  rm -rf "$dir"
  echo "fuzz.sh: $t for ${seconds} s"
  status=0
  rss_file=$out/$t.peak-rss-kib
  rm -f "$rss_file"
  TMPDIR=$scratch SOLUM_FUZZ_PEAK_RSS=$rss_file nice -n "${SOLUM_FUZZ_NICE:-19}" cargo afl fuzz -i "fuzz/corpus/$t" -o "$dir" -t 1000 -m 256 \
    -V "$seconds" -- "$bin" "$t" >"$out/$t.log" 2>&1 || status=$?
  stats=$dir/default/fuzzer_stats
  if [ ! -f "$stats" ]; then
    echo "fuzz.sh: $t: afl-fuzz did not start (exit $status); its last lines:" >&2
    tail -n 15 "$out/$t.log" >&2
    rows+=("| $t | - | - | - | did not start | - | - | - |")
    failed=1
    bad=$((bad + 1))
    found+=("$out/$t.log")
    continue
  fi
  run=$(field "$stats" run_time)
  execs=$(field "$stats" execs_done)
  crashes=$(field "$stats" saved_crashes)
  hangs=$(field "$stats" saved_hangs)
  rss=-
  [ -s "$rss_file" ] && rss=$(( ($(cat "$rss_file") + 1023) / 1024 ))
  corpus=$(field "$stats" corpus_count)
  rate=$(( execs / (run > 0 ? run : 1) ))
  rows+=("| $t | $run | $execs | $rate | $crashes | $hangs | $rss | $corpus |")
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    failed=1
    bad=$((bad + 1))
    for f in "$dir"/default/crashes/id:* "$dir"/default/hangs/id:*; do
      [ -e "$f" ] && found+=("$t $f")
    done
  fi
done

printf '%s\n' "${rows[@]}"
if [ -n "$table" ]; then
  {
    echo "$(cargo afl --version 2>/dev/null), opt-level $opt, ${seconds} s per target," \
      "-t 1000 -m 256, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
    echo
    printf '%s\n' "${rows[@]}"
  } >"$table"
fi
if [ "$failed" = 1 ]; then
  echo "fuzz.sh: FAILED; found:" >&2
  for f in "${found[@]}"; do
    case "$f" in
      *" "*) echo "  ${f#* }   (replay: $bin ${f%% *} --replay '${f#* }')" >&2 ;;
      *) echo "  $f" >&2 ;;
    esac
  done
  echo "fuzz.sh: afl's output is kept in $out" >&2
  echo "fuzz: $(( ${#targets[@]} - bad )) passed, $bad failed"
  exit 1
fi
[ "$keep" = 1 ] || rm -rf "$out"
echo "fuzz.sh: ${#targets[@]} targets, nothing crashed, hung or went over 256 MiB"
echo "fuzz: ${#targets[@]} passed, 0 failed"
