#!/usr/bin/env bash
# A real Keystone + Glance on 127.0.0.1 for tests and benchmarks.
#
#   openstack-harness.sh start DIR [--watch PID]
#                                    start both (state, logs, data in DIR); prints the env;
#                                    with --watch, stop both and remove DIR once PID is gone
#   openstack-harness.sh stop DIR    stop both (DIR is left for the caller to remove)
#   openstack-harness.sh venv        only make sure the venv exists
#
# The venv (keystone, glance<33, gunicorn, python-openstackclient from PyPI) is cached outside
# the clone in $SOLUM_OPENSTACK_VENV (default /var/cache/solum-test/openstack-venv) and made
# once, under a lock. Keystone: sqlite, fernet keys, gunicorn, `keystone-manage bootstrap`,
# the image service in its catalog. Glance: `glance-api --config-file`, sqlite, a file store
# in DIR, paste flavor `keystone` (keystonemiddleware against that Keystone), glance-direct
# import enabled, image_size_cap $SOLUM_GLANCE_SIZE_CAP (default 64 MiB, so 413 is testable).
# Debian packages needed: python3 python3-venv python3-dev gcc libffi-dev libssl-dev curl.
set -euo pipefail

VENV=${SOLUM_OPENSTACK_VENV:-/var/cache/solum-test/openstack-venv}
PY=$VENV/bin/python
ADMIN_PASSWORD=${SOLUM_OS_ADMIN_PASSWORD:-harness-admin-secret}
SIZE_CAP=${SOLUM_GLANCE_SIZE_CAP:-67108864}

die() { echo "openstack-harness: $*" >&2; exit 1; }

ensure_venv() {
    [ -f "$VENV/.complete" ] && return 0
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock"
    flock 9
    if [ ! -f "$VENV/.complete" ]; then
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt install python3-venv)"
        "$PY" -m pip install -q --upgrade pip >&2
        "$PY" -m pip install -q keystone 'glance<33' gunicorn python-openstackclient >&2 \
            || die "pip install of keystone/glance failed"
        touch "$VENV/.complete"
    fi
    exec 9>&-
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # URL SECONDS LOG: any HTTP answer counts
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        if curl -s -o /dev/null --max-time 2 "$1"; then return 0; fi
        sleep 0.2
    done
    echo "--- $3" >&2; tail -n 30 "$3" >&2 || true
    die "$1 did not answer within $2 s"
}

start() {
    local dir=$1
    ensure_venv
    mkdir -p "$dir"/{fernet,credential,images,staging,tasks}
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir"/fernet "$dir"/credential
    local kport gport
    kport=$(free_port)
    gport=$(free_port)
    local kurl=http://127.0.0.1:$kport gurl=http://127.0.0.1:$gport

    cat >"$dir/keystone.conf" <<KEOF
[DEFAULT]
log_file = $dir/keystone.log
[database]
connection = sqlite:///$dir/keystone.sqlite
[fernet_tokens]
key_repository = $dir/fernet
[credential]
key_repository = $dir/credential
[token]
provider = fernet
KEOF
    local km=("$PY" "$VENV/bin/keystone-manage" --config-file "$dir/keystone.conf")
    "${km[@]}" db_sync >>"$dir/setup.log" 2>&1 || die "keystone db_sync failed: see $dir/setup.log"
    "${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$dir/setup.log" 2>&1
    "${km[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$dir/setup.log" 2>&1
    "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
        --bootstrap-admin-url "$kurl/v3" --bootstrap-public-url "$kurl/v3" \
        --bootstrap-internal-url "$kurl/v3" --bootstrap-region-id RegionOne \
        >>"$dir/setup.log" 2>&1 || die "keystone bootstrap failed: see $dir/setup.log"

    # keystone parses sys.argv with oslo.config: hide gunicorn's arguments from it
    printf 'import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa\n' \
        >"$dir/keystone_wsgi.py"
    OS_KEYSTONE_CONFIG_FILES=$dir/keystone.conf setsid "$PY" "$VENV/bin/gunicorn" \
        --chdir "$dir" --bind "127.0.0.1:$kport" --workers 1 --threads 4 --no-control-socket \
        --pid "$dir/keystone.pid" keystone_wsgi:application >>"$dir/keystone.log" 2>&1 </dev/null &

    cat >"$dir/glance-api.conf" <<GEOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $gport
workers = 1
log_file = $dir/glance-api.log
image_size_cap = $SIZE_CAP
enabled_backends = fs:file
enabled_import_methods = [glance-direct]
[database]
connection = sqlite:///$dir/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/images/
[os_glance_staging_store]
filesystem_store_datadir = $dir/staging/
[os_glance_tasks_store]
filesystem_store_datadir = $dir/tasks/
[paste_deploy]
flavor = keystone
config_file = $VENV/etc/glance/glance-api-paste.ini
[keystone_authtoken]
www_authenticate_uri = $kurl/v3
auth_url = $kurl/v3
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = admin
username = admin
password = $ADMIN_PASSWORD
[oslo_concurrency]
lock_path = $dir/locks
GEOF
    "$PY" "$VENV/bin/glance-manage" --config-file "$dir/glance-api.conf" db_sync >>"$dir/setup.log" 2>&1 \
        || die "glance-manage db_sync failed: see $dir/setup.log"

    wait_http "$kurl/v3" 30 "$dir/keystone.log"
    cat >"$dir/admin.env" <<EEOF
export OS_AUTH_URL=$kurl/v3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
export OS_INTERFACE=public
EEOF
    (
        # shellcheck disable=SC1091
        . "$dir/admin.env"
        osc=("$PY" "$VENV/bin/openstack")
        "${osc[@]}" service create --name glance image -f value -c id >>"$dir/setup.log" 2>&1 &&
        for i in public internal; do
            "${osc[@]}" endpoint create --region RegionOne image "$i" "$gurl" >>"$dir/setup.log" 2>&1
        done
    ) || die "adding the image service to the catalog failed: see $dir/setup.log"

    setsid "$PY" "$VENV/bin/glance-api" --config-file "$dir/glance-api.conf" \
        >>"$dir/glance-api.out" 2>&1 </dev/null &
    echo $! >"$dir/glance.pid"
    wait_http "$gurl/versions" 60 "$dir/glance-api.log"
    echo "GLANCE_URL=$gurl" >"$dir/urls"
    echo "KEYSTONE_URL=$kurl" >>"$dir/urls"
    if [ -n "${WATCH:-}" ]; then
        # The servers' process groups are handed over now, not read from DIR at the end: the
        # caller may well have removed DIR (its temp dir) before it exits.
        setsid bash -c '
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            for g in "${@:3}"; do kill -TERM -- "-$g" 2>/dev/null; done
            for _ in $(seq 50); do
                alive=0
                for g in "${@:3}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
                [ $alive = 0 ] && break
                sleep 0.1
            done
            for g in "${@:3}"; do kill -KILL -- "-$g" 2>/dev/null; done
            rm -rf "$2"' \
            watcher "$WATCH" "$dir" "$(cat "$dir/keystone.pid")" "$(cat "$dir/glance.pid")" \
            </dev/null >/dev/null 2>&1 &
    fi
    cat "$dir/admin.env"
}

stop_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    # each server was started with setsid: its pid is its process group
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
}

stop() {
    stop_pidfile "$1/glance.pid"
    stop_pidfile "$1/keystone.pid"
}

case "${1:-}" in
start)
    [ -n "${2:-}" ] || die "usage: $0 start DIR [--watch PID]"
    if [ "${3:-}" = --watch ]; then WATCH=${4:?--watch needs a pid}; fi
    start "$2"
    ;;
stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop "$2" ;;
venv) ensure_venv; echo "$VENV" ;;
*) die "usage: $0 start DIR | stop DIR | venv" ;;
esac
