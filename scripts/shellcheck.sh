#!/usr/bin/env bash
# Lints every shell script of scripts/, bench/, elements/, vagrant/ and agent/ with shellcheck: the
# files named *.sh or *.bash and those whose first line is a sh/bash shebang (DIB's element
# scripts have no extension). Settings and the exclusions, each with its reason: .shellcheckrc.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || {
  echo "shellcheck.sh: shellcheck is not installed (Debian package shellcheck; scripts/setup.sh)" >&2
  exit 1
}
scripts=()
while IFS= read -r -d '' f; do
  case "$f" in
    *.sh | *.bash) scripts+=("$f") ;;
    *) if head -n1 -- "$f" | grep -Eq '^#!.*(/|[[:space:]])(ba)?sh([[:space:]]|$)'; then scripts+=("$f"); fi ;;
  esac
done < <(git ls-files -z -- scripts bench elements vagrant agent)
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck -x "${scripts[@]}"
