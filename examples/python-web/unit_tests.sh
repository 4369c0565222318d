#!/usr/bin/env bash
# Unit tests of python-web: standard library unittest, run from the app directory.
set -euo pipefail
cd "$(dirname "$0")"
exec python3 -m unittest -v
