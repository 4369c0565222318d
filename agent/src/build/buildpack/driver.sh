#!/bin/bash
# The buildpack driver: runs inside the build container (stack-build image) as uid 32767 with
# herokuish's paths. Uploaded by agent/src/build/buildpack/container.rs, which reads back:
#   /tmp/status       `ok`, or `nothing-detected`, or `failed CODE DIRNAME WHAT`, or `error MESSAGE`
#   /tmp/release.yml  the last buildpack's bin/release output (the last one wins)
#   /tmp/slug.tgz     the compiled build dir, .slugignore honoured, .git dropped, owned by 32767
# /tmp/buildpacks/.order lists the mode (`detect-first` or `all`) on its first line, then one
# buildpack directory (under /tmp/buildpacks) per line, in order.
set -o pipefail
# One stream: stdout and stderr of every buildpack in the order they were written (Docker
# keeps the two streams apart and may interleave them out of order), so a failure's last
# lines show its error message where it happened.
exec 2>&1

build_dir=/tmp/build
cache_dir=/tmp/cache
env_dir=/tmp/env
root=/tmp/buildpacks
status=/tmp/status
release_out=/tmp/release.yml

finish() {
  printf '%s\n' "$*" >"$status"
  exit "${exit_code:-1}"
}

if [ ! -w "$cache_dir" ]; then
  finish "error the cache directory $cache_dir is not writable by uid $(id -u)"
fi

mode=""
packs=()
while IFS= read -r line || [ -n "$line" ]; do
  if [ -z "$mode" ]; then
    mode="$line"
  elif [ -n "$line" ]; then
    packs+=("$line")
  fi
done <"$root/.order"

# run_bin SCRIPT ARGS...: runs a buildpack script, through bash if it lost its executable bit.
run_bin() {
  local script="$1"
  shift
  if [ -x "$script" ]; then
    "$script" "$@"
  else
    bash "$script" "$@"
  fi
}

# detect DIR: prints the buildpack's name when it claims the app.
detect() {
  local bp="$1" out
  [ -f "$bp/bin/detect" ] || return 1
  out="$(cd "$build_dir" && run_bin "$bp/bin/detect" "$build_dir" 2>/dev/null)" || return 1
  out="${out%%$'\n'*}"
  [ -n "${out//[[:space:]]/}" ] || return 1
  printf '%s' "$out"
}

selected=()
names=()
case "$mode" in
  detect-first)
    for bp in "${packs[@]}"; do
      if name="$(detect "$root/$bp")"; then
        selected=("$bp")
        names=("$name")
        break
      fi
    done
    if [ "${#selected[@]}" -eq 0 ]; then
      finish "nothing-detected"
    fi
    ;;
  all)
    for bp in "${packs[@]}"; do
      name="$(detect "$root/$bp")" || name="$bp"
      selected+=("$bp")
      names+=("$name")
    done
    ;;
  *)
    finish "error unknown mode '$mode' in $root/.order"
    ;;
esac

for i in "${!selected[@]}"; do
  dir="${selected[$i]}"
  bp="$root/$dir"
  echo "-----> ${names[$i]} app detected"
  if [ ! -f "$bp/bin/compile" ]; then
    finish "failed 127 $dir has no bin/compile"
  fi
  (cd "$build_dir" && run_bin "$bp/bin/compile" "$build_dir" "$cache_dir" "$env_dir")
  code=$?
  if [ "$code" -ne 0 ]; then
    finish "failed $code $dir bin/compile"
  fi
  if [ -f "$bp/export" ]; then
    # shellcheck disable=SC1091
    . "$bp/export"
  fi
  if [ -f "$bp/bin/release" ]; then
    if ! (cd "$build_dir" && run_bin "$bp/bin/release" "$build_dir") >"$release_out.new"; then
      finish "failed 1 $dir bin/release"
    fi
    mv -f "$release_out.new" "$release_out"
  fi
done

echo "-----> Compressing the slug"
ignore=/tmp/slugignore
: >"$ignore"
if [ -f "$build_dir/.slugignore" ]; then
  # Comments and blank lines out; a leading `/` anchors at the top, a trailing `/` is dropped.
  sed -e 's/\r$//' -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e 's#^/#./#' -e 's#/*$##' \
    "$build_dir/.slugignore" >"$ignore"
fi
if ! tar -C "$build_dir" --exclude=.git --exclude-from="$ignore" --owner=32767 --group=32767 \
  --numeric-owner -czf /tmp/slug.tgz .; then
  finish "error could not tar the slug"
fi
echo "       slug: $(du -h /tmp/slug.tgz | cut -f1)"
exit_code=0 finish "ok"
