#!/usr/bin/env bash
# The main job: deploys the bundled example app (a Python web app built with the bundled
# buildpacks) on this host's Docker and prints its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./target/release/solum-agent deploy examples/python-web/Planfile "$@"
