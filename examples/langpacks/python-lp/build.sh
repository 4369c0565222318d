#!/bin/bash
# Build step of the python-lp language pack: runs in /app (the app's source) at image build
# time, with the plan parameters in the environment. Fails the build on a syntax error.
set -euo pipefail

echo "-----> python-lp: $(cat /solum/python-version)"

if [ -f requirements.txt ] && grep -qv '^\s*\(#\|$\)' requirements.txt; then
    echo "python-lp: requirements.txt lists packages, but this pack works offline and installs nothing" >&2
    exit 1
fi

echo "-----> python-lp: checking the sources compile"
find . -name '*.py' -print0 | xargs -0 -r python3 -m py_compile
find . -name '__pycache__' -type d -prune -exec rm -rf {} +

# Mark the image as built by this pack (parameter values are never printed: they may be secret).
echo "built_by=python-lp" > /app/.build-info
if [ -n "${GREETING:-}" ]; then
    printf '%s\n' "$GREETING" > /app/greeting.txt
fi
echo "-----> python-lp: done"
