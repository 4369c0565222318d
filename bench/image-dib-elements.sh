#!/bin/bash
# bench/image-dib-elements.sh: diskimage-builder's own elements built by DIB 3.43.0 itself
# and by solum-image, and what each builder's image got from them compared.
#
#   bench/image-dib-elements.sh            (as root; DIB runs through /work/shared/tools/dib-run)
#
# The element sets are those of imagebuild/tests/dib_elements.rs (BIG on `debian-minimal vm`
# with the dib-compat-probe fixture, SMALL on `-n debian-minimal -p kmod`), with the same
# variables and input files. Each builder builds each set and its base alone, as tarballs;
# bench/dib-tree-diff.py then compares what the elements changed in each builder's image:
# files, modes, owners, symlinks, enabled units (and, as information, the content of /etc).
# DIB runs from a venv with diskimage-builder==3.43.0 (made once in $BENCH_DIB_VENV, default
# /var/cache/solum-test/dib-venv-3.43.0), its elements from that package; solum-image uses
# the very same element files (after the project's elements), so modes compare too (the
# sdist's files are group-writable, the wheel's are not).
# DIB needs DIB_PYTHON_VERSION=3 on bookworm (its dib-python says 2 for Debian).
# Work dir: $BENCH_DIR (default /var/tmp/solum-image-dib-elements), deleted at the end unless
# BENCH_KEEP=1. Env: DIB_RUN, SOLUM_IMAGE (binary), BENCH_SETS (default "small big").
set -eu
set -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SOLUM_IMAGE:-$here/target/release/solum-image}
[ -x "$bin" ] || bin=$here/target/debug/solum-image
[ -x "$bin" ] || { echo "build it first: cargo build --release -p solum-image" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (mounts, chroot, loop devices for DIB)" >&2; exit 1; }
dib_run=${DIB_RUN:-/work/shared/tools/dib-run}
[ -x "$dib_run" ] || { echo "$dib_run: not found" >&2; exit 1; }
work=${BENCH_DIR:-/var/tmp/solum-image-dib-elements}
case "$work" in /|/var|/var/tmp|/tmp|"$HOME") echo "BENCH_DIR=$work: refusing" >&2; exit 1 ;; esac
venv=${BENCH_DIB_VENV:-/var/cache/solum-test/dib-venv-3.43.0}
loops_before=$(losetup -a | sort)

cleanup() {
    local rc=$?
    if [ "$(losetup -a | sort)" != "$loops_before" ]; then
        echo "WARNING: loop devices left" >&2
        rc=1
    fi
    if grep -qE ' (/tmp/dib_|'"$work"')' /proc/self/mountinfo; then
        echo "WARNING: mounts left" >&2
        rc=1
    elif [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    fi
    exit "$rc"
}
rm -rf "$work"
mkdir -p "$work/out" "$work/inputs" "$work/home/.ssh"
trap cleanup EXIT

if [ ! -x "$venv/bin/disk-image-create" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "diskimage-builder==3.43.0"
fi
dib_elements=$("$venv/bin/python" -c 'import diskimage_builder.paths as p; p.show_path("elements")')
[ -d "$dib_elements/base" ] || { echo "no DIB elements in $venv" >&2; exit 1; }

# The test's element sets, read from the test itself (one list to keep).
set_of() {
    python3 - "$here/imagebuild/tests/dib_elements.rs" "$1" << 'PY'
import re, sys
text = open(sys.argv[1]).read()
body = re.search(r"const %s: &\[&str\] = &\[(.*?)\];" % sys.argv[2], text, re.S).group(1)
print(" ".join(re.findall(r'"([^"]+)"', body)))
PY
}
read -r -a big <<< "$(set_of BIG)"
read -r -a small <<< "$(set_of SMALL)"

# The test's inputs.
git init -q -b main "$work/repo"
echo "probe source" > "$work/repo/README"
git -C "$work/repo" add README
git -C "$work/repo" -c user.email=t@example.invalid -c user.name=t commit -qm init
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyFromLocalConfig local-config@test" > "$work/home/.ssh/authorized_keys"
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevuserKey devuser@test" > "$work/inputs/devuser.pub"
printf '# dib-compat apt-sources\ndeb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$work/inputs/sources.list"
echo '{"packages": [{"package": "solum-probe-pin", "version": "1.0-1"}]}' > "$work/inputs/dpkg-manifest.json"
printf '[sshd]\nenabled = true\n# dib-compat fail2ban\n' > "$work/inputs/jail.local"
printf '// dib-compat autoupdates\nUnattended-Upgrade::Origins-Pattern { "origin=Debian"; };\n' > "$work/inputs/50unattended"
echo '// dib-compat apt-conf v1' > "$work/inputs/apt.conf"

export DIB_RELEASE=bookworm HOME=$work/home
# DIB calls sudo everywhere; as root on a host without it, solum-image's stand-in.
PATH="$("$here/bench/image-sudo-shim.sh" "$work/shim"):$PATH"
export DIB_REPOLOCATION_solumprobe=$work/repo DIB_APT_SOURCES=$work/inputs/sources.list
export DIB_DPKG_MANIFEST=$work/inputs/dpkg-manifest.json DIB_FAIL2BAN_CONF=$work/inputs/jail.local
export DIB_DEB_UPDATES_CONF=$work/inputs/50unattended DIB_APT_CONF=$work/inputs/apt.conf
export DIB_DEV_USER_USERNAME=solumdev DIB_DEV_USER_PWDLESS_SUDO=yes DIB_DEV_USER_SHELL=/bin/bash
export DIB_DEV_USER_AUTHORIZED_KEYS=$work/inputs/devuser.pub DIB_DEV_USER_PASSWORD=bench-not-for-logs
export DIB_MODPROBE_BLACKLIST="floppy pcspkr" DIB_GROWVOLS_TRIGGER=systemd
export DIB_PYPI_MIRROR_URL=https://pypi.org/simple DIB_CLOUD_INIT_GROWPART_DEVICES='["/"]'
export DIB_INSTALLTYPE_pip_and_virtualenv=package no_proxy=example.invalid,10.1.2.3

solum() {
    local name=$1
    shift
    (cd "$work/out" && DIB_IMAGE_CACHE=$solum_cache DIB_SOLUM_BENCH_NONCE=$$ \
        ELEMENTS_PATH=$here/elements:$here/imagebuild/tests/elements:$dib_elements \
        "$bin" build -t tar -o "$work/out/$name" "$@")
}
solum_cache=${SOLUM_IMAGE_TEST_CACHE:-/var/tmp/solum-image-test-cache}
: > "$work/trees"

# build BUILDER NAME ARGS...: one tarball, timed; the log in $work/NAME.log.
build() {
    local who=$1 name=$2
    shift 2
    local start rc=0
    start=$(date +%s)
    if [ "$who" = dib ]; then
        (cd "$work/out" && DIB_VENV=$venv DIB_PYTHON_VERSION=3 DIB_IMAGE_CACHE=$work/dib-cache \
            ELEMENTS_PATH=$here/imagebuild/tests/elements \
            "$dib_run" -t tar -o "$work/out/$name" "$@") > "$work/$name.log" 2>&1 || rc=$?
    else
        solum "$name" --dry-run --json "$@" 2> /dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])' >> "$work/trees" || true
        solum "$name" "$@" > "$work/$name.log" 2>&1 || rc=$?
    fi
    printf '%-22s %s %4d s\n' "$name" "$([ $rc = 0 ] && echo ok || echo FAILED)" $(($(date +%s) - start))
    if [ $rc != 0 ]; then
        tail -n 25 "$work/$name.log" | sed 's/^/    /'
        return 1
    fi
}

rc=0
for set in ${BENCH_SETS:-small big}; do
    if [ "$set" = big ]; then
        base=(debian-minimal vm)
        elements=(dib-compat-probe "${big[@]}")
    else
        base=(-n -p kmod debian-minimal)
        elements=("${small[@]}")
    fi
    ok=1
    for who in dib solum; do
        build $who "$who-$set-base" "${base[@]}" || ok=0
        build $who "$who-$set" "${base[@]}" "${elements[@]}" || ok=0
    done
    if [ $ok = 1 ]; then
        echo "== $set: ${elements[*]}"
        python3 "$here/bench/dib-tree-diff.py" "$work/out/dib-$set-base.tar" "$work/out/dib-$set.tar" \
            "$work/out/solum-$set-base.tar" "$work/out/solum-$set.tar" || rc=1
    else
        rc=1
    fi
done
# solum-image's final trees of this run (its nonce), out of the shared test cache.
while read -r h; do
    [ -n "$h" ] && rm -rf "$solum_cache/solum-image/trees/$h" "$solum_cache/solum-image/trees/$h.used"
done < "$work/trees"
exit $rc
