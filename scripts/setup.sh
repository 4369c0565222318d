#!/usr/bin/env bash
# Makes a fresh Debian bookworm machine ready for solum-guest: the packages the agent, the
# image builder and the tests use, a running Docker engine, the release build of the agent and
# the buildpack stack images and the services image. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { [ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs packages and talks to Docker)" >&2; exit 1; }; }
need_root

packages=(git ca-certificates curl mmdebstrap debootstrap docker.io
          qemu-system-x86 qemu-utils genisoimage xorriso mtools dosfstools fdisk gdisk
          grub-pc-bin grub-efi-amd64-bin ovmf ignition e2fsprogs zstd systemd util-linux
          python3 python3-venv python3-dev python3-yaml gcc make libffi-dev libssl-dev bc time
          docker-compose jq shellcheck man-db bash-completion wrk haproxy
          vagrant vagrant-libvirt)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Some machines come with qemu-utils from bookworm-backports (qemu 10), which Breaks the
# qemu-system of bookworm (7.2): take qemu-system from backports too, so the two match.
backports=()
if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12'; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup: qemu-utils is from bookworm-backports; adding that suite for qemu-system-x86"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      > /etc/apt/sources.list.d/solum-backports.list
  fi
  backports=(qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports
             qemu-system-data/bookworm-backports seabios/bookworm-backports)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  for i in "${!missing[@]}"; do
    case "${missing[$i]}" in qemu-system-x86) [ ${#backports[@]} -gt 0 ] && unset 'missing[i]' ;; esac
  done
  missing+=("${backports[@]}")
  # No recommends: vagrant-libvirt would otherwise pull in the libvirt daemon and its bridge,
  # which these machines must not create.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker version >/dev/null 2>&1; then
  echo "setup: starting the Docker engine"
  if command -v systemctl >/dev/null && systemctl start docker 2>/dev/null; then :
  elif service docker start >/dev/null 2>&1; then :
  else (dockerd >/var/log/dockerd.log 2>&1 &) ; fi
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
  docker version >/dev/null || { echo "setup: the Docker engine did not start" >&2; exit 1; }
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
# cargo-afl for scripts/fuzz.sh (stable Rust): installing it builds AFL++ from the source it
# ships (gcc, make); its runtime is built once per rustc version.
afl_version=0.18.2
if [ "$(cargo afl --version 2>/dev/null | awk '{print $2}')" != "$afl_version" ]; then
  echo "setup: installing cargo-afl $afl_version (builds AFL++, about 2 minutes)"
  cargo install -q --locked --force cargo-afl --version "$afl_version"
fi
if ! afl_out=$(cargo afl config --build 2>&1) && ! grep -q 'already built' <<<"$afl_out"; then
  echo "setup: cargo afl config --build failed:" >&2
  echo "$afl_out" | tail -n 20 >&2
  exit 1
fi
# Keystone, Glance and Heat from PyPI for the end-to-end tests (cached, made once), and
# heat-agents' hooks (its sdist), so that no test spends minutes in pip.
./scripts/openstack-harness.sh venv >/dev/null
./scripts/openstack-harness.sh heat-agents >/dev/null
# diskimage-builder 3.43.0's own elements (its PyPI sdist), for the image builder's
# compatibility suite.
./scripts/dib-elements.sh >/dev/null
cargo build --release -q -p solum-agent -p solum-image
# The man pages and bash, zsh and fish completions the build scripts made beside the binaries
# (target/release/share, laid out as a prefix), where man, bash-completion, zsh and fish look.
rm -f /usr/local/share/man/man1/solum-agent*.1 /usr/local/share/man/man1/solum-image*.1
(cd target/release/share && find . -type f) | while read -r f; do
  install -D -m 0644 "target/release/share/$f" "/usr/local/share/${f#./}"
done
# The stack images and the services image (solum/services: PostgreSQL, MariaDB, RabbitMQ,
# Redis), ahead of the tests.
./target/release/solum-agent stack build >/dev/null
echo "setup: ready ($(docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'))"
