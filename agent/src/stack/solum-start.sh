#!/bin/bash
# solum-start: starts a process of an app built by the solum-agent buildpack builder.
#
#   solum-start TYPE            runs the command of process TYPE from /app/Procfile, else from
#                               the buildpack release's default process types (/app/.release,
#                               same `type: command` format), through `bash -c` so $PORT expands
#   solum-start COMMAND [ARG]... runs the command line (unit tests, run_cmd)
#
# Before that: cd /app, HOME=/app, PORT defaults to 5000, then /app/.profile.d/*.sh and
# /app/.profile are sourced (Heroku's order). No `set -e`/`set -u`: profiles are user code.

cd /app || { echo "solum-start: /app is missing" >&2; exit 1; }
export HOME=/app
export PORT="${PORT:-5000}"

if [ -d /app/.profile.d ]; then
  for profile in /app/.profile.d/*.sh; do
    # shellcheck disable=SC1090
    [ -r "$profile" ] && . "$profile"
  done
  unset profile
fi
if [ -r /app/.profile ]; then
  # shellcheck disable=SC1091
  . /app/.profile
fi

# process_command FILE TYPE: prints the command of TYPE in the Procfile-format FILE.
process_command() {
  local file="$1" want="$2" line key
  [ -r "$file" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    case "$line" in
      '' | '#'* | [[:space:]]'#'*) continue ;;
    esac
    case "$line" in
      *:*) ;;
      *) continue ;;
    esac
    key="${line%%:*}"
    key="${key//[[:space:]]/}"
    if [ "$key" = "$want" ]; then
      line="${line#*:}"
      line="${line#"${line%%[![:space:]]*}"}"
      printf '%s\n' "$line"
      return 0
    fi
  done <"$file"
  return 1
}

if [ "$#" -eq 0 ]; then
  set -- web
fi

if [ "$#" -eq 1 ] && [[ "$1" =~ ^[A-Za-z0-9_-]+$ ]]; then
  if command_line="$(process_command /app/Procfile "$1")" \
    || command_line="$(process_command /app/.release "$1")"; then
    exec bash -c "$command_line"
  fi
fi

exec bash -c "$*"
