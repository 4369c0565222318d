#!/usr/bin/env bash
# A real Keystone with Glance and/or Heat on 127.0.0.1 for tests and benchmarks: the one way
# the project starts OpenStack services.
#
#   openstack-harness.sh start DIR [--watch PID] [--services glance,heat]
#                                    start Keystone and the services (default: glance; state,
#                                    logs, data in DIR); prints the admin env (an openrc);
#                                    with --watch, stop them all and remove DIR once PID is gone
#   openstack-harness.sh stop DIR    stop them all (DIR is left for the caller to remove)
#   openstack-harness.sh venv        only make sure the venv exists
#   openstack-harness.sh heat-agents print the directory of heat-agents 13.0.0's sdist (its
#                                    hooks, heat-config, os-collect-config templates), fetched
#                                    once into the cache with pip download
#
# The venv (keystone 30.0.0, glance<33, openstack-heat 27.0.1, gunicorn, the openstack and heat
# clients, from PyPI) is cached outside the clone in $SOLUM_OPENSTACK_VENV (default
# /var/cache/solum-test/openstack-venv) and made once, under a lock; a venv made for another
# package list is remade. Keystone: sqlite, fernet keys, gunicorn, `keystone-manage bootstrap`,
# the services in its catalog. Glance: `glance-api --config-file`, sqlite, a file store in DIR,
# paste flavor `keystone` (keystonemiddleware against that Keystone), glance-direct import
# enabled, image_size_cap $SOLUM_GLANCE_SIZE_CAP (default 64 MiB, so 413 is testable).
# Heat: heat-api, heat-api-cfn and the engine in one process (scripts/heat-server.py, fake://
# RPC), sqlite, the legacy engine (convergence on sqlite loses resource data on UPDATE), the
# stack user domain made by heat-keystone-setup-domain, the ec2tokens check for heat-api-cfn,
# old policy defaults (the new DescribeStackResource rule refuses every signed request), and
# compute/network/image/load-balancer/database catalog entries pointing at a stub in the same
# process so `template validate` accepts Nova/Neutron/Glance/Octavia/Trove resources (Heat
# checks them against its resource schemas; no Octavia or Trove runs, and validation never
# calls those two entries). The urls file in DIR names every endpoint.
# Debian packages needed: python3 python3-venv python3-dev gcc libffi-dev libssl-dev curl.
set -euo pipefail

VENV=${SOLUM_OPENSTACK_VENV:-/var/cache/solum-test/openstack-venv}
PY=$VENV/bin/python
ADMIN_PASSWORD=${SOLUM_OS_ADMIN_PASSWORD:-harness-admin-secret}
SIZE_CAP=${SOLUM_GLANCE_SIZE_CAP:-67108864}
PACKAGES="keystone==30.0.0 glance<33 openstack-heat==27.0.1 gunicorn python-openstackclient python-heatclient"
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "openstack-harness: $*" >&2; exit 1; }

ensure_venv() {
    [ "$(cat "$VENV/.complete" 2>/dev/null)" = "$PACKAGES" ] && return 0
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock"
    flock 9
    if [ "$(cat "$VENV/.complete" 2>/dev/null)" != "$PACKAGES" ]; then
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt install python3-venv)"
        "$PY" -m pip install -q --upgrade pip >&2
        # shellcheck disable=SC2086
        "$PY" -m pip install -q $PACKAGES >&2 || die "pip install of $PACKAGES failed"
        echo "$PACKAGES" >"$VENV/.complete"
    fi
    exec 9>&-
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # URL SECONDS LOG [PIDFILE]: any HTTP answer counts; a dead server fails at once
    local end=$((SECONDS + $2))
    while ((SECONDS < end)); do
        if curl -s -o /dev/null --max-time 2 "$1"; then return 0; fi
        if [ -n "${4:-}" ] && ! kill -0 "$(cat "$4")" 2>/dev/null; then
            echo "--- $3" >&2; tail -n 30 "$3" >&2 || true
            die "the server for $1 exited"
        fi
        sleep 0.2
    done
    echo "--- $3" >&2; tail -n 30 "$3" >&2 || true
    die "$1 did not answer within $2 s"
}

# Adds roles, role assignments to admin and catalog entries in one Python process (the
# openstack CLI costs a few seconds a call). Arguments: role:NAME, grant:ROLE,
# service:NAME:TYPE:URL (public, internal and admin endpoints in RegionOne).
keystone_setup() {
    "$PY" - "$@" >>"$DIR/setup.log" 2>&1 <<'PYEOF'
import os, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client
auth = v3.Password(auth_url=os.environ["OS_AUTH_URL"], username="admin",
                   password=os.environ["OS_PASSWORD"], project_name="admin",
                   user_domain_id="default", project_domain_id="default")
ks = client.Client(session=session.Session(auth=auth))
admin = ks.users.find(name="admin")
project = ks.projects.find(name="admin")
for arg in sys.argv[1:]:
    kind, rest = arg.split(":", 1)
    if kind == "role":
        ks.roles.create(name=rest)
    elif kind == "grant":
        ks.roles.grant(ks.roles.find(name=rest), user=admin, project=project)
    elif kind == "service":
        name, stype, url = rest.split(":", 2)
        svc = ks.services.create(name=name, type=stype)
        for iface in ("public", "internal", "admin"):
            ks.endpoints.create(service=svc, url=url, interface=iface, region="RegionOne")
    print("done", arg)
PYEOF
}

start_keystone() {
    local kport=$1
    local kurl=http://127.0.0.1:$kport
    mkdir -p "$DIR"/{fernet,credential}
    chmod 700 "$DIR"/fernet "$DIR"/credential
    cat >"$DIR/keystone.conf" <<KEOF
[DEFAULT]
log_file = $DIR/keystone.log
[database]
connection = sqlite:///$DIR/keystone.sqlite?timeout=60
[fernet_tokens]
key_repository = $DIR/fernet
[credential]
key_repository = $DIR/credential
[token]
provider = fernet
KEOF
    local km=("$PY" "$VENV/bin/keystone-manage" --config-file "$DIR/keystone.conf")
    "${km[@]}" db_sync >>"$DIR/setup.log" 2>&1 || die "keystone db_sync failed: see $DIR/setup.log"
    "${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$DIR/setup.log" 2>&1
    "${km[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$DIR/setup.log" 2>&1
    "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
        --bootstrap-admin-url "$kurl/v3" --bootstrap-public-url "$kurl/v3" \
        --bootstrap-internal-url "$kurl/v3" --bootstrap-region-id RegionOne \
        >>"$DIR/setup.log" 2>&1 || die "keystone bootstrap failed: see $DIR/setup.log"

    # keystone parses sys.argv with oslo.config: hide gunicorn's arguments from it; SQLite
    # transactions begin IMMEDIATE (scripts/harness_sqlite.py).
    printf 'import sys\nsys.argv = sys.argv[:1]\nsys.path.insert(0, "%s")\nimport harness_sqlite  # noqa\nfrom keystone.wsgi.api import application  # noqa\n' \
        "$HERE" >"$DIR/keystone_wsgi.py"
    OS_KEYSTONE_CONFIG_FILES=$DIR/keystone.conf setsid "$PY" "$VENV/bin/gunicorn" \
        --chdir "$DIR" --bind "127.0.0.1:$kport" --workers 1 --threads 8 --no-control-socket \
        keystone_wsgi:application >>"$DIR/keystone.log" 2>&1 </dev/null &
    echo $! >"$DIR/keystone.pid"

    cat >"$DIR/admin.env" <<EEOF
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
    echo "KEYSTONE_URL=$kurl" >>"$DIR/urls"
    wait_http "$kurl/v3" 30 "$DIR/keystone.log"
}

write_glance_conf() {
    local gport=$1 kurl=$2
    mkdir -p "$DIR"/{images,staging,tasks}
    cat >"$DIR/glance-api.conf" <<GEOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $gport
workers = 1
log_file = $DIR/glance-api.log
image_size_cap = $SIZE_CAP
enabled_backends = fs:file
enabled_import_methods = [glance-direct]
[database]
connection = sqlite:///$DIR/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DIR/images/
[os_glance_staging_store]
filesystem_store_datadir = $DIR/staging/
[os_glance_tasks_store]
filesystem_store_datadir = $DIR/tasks/
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
lock_path = $DIR/locks
GEOF
    "$PY" "$VENV/bin/glance-manage" --config-file "$DIR/glance-api.conf" db_sync >>"$DIR/setup.log" 2>&1 \
        || die "glance-manage db_sync failed: see $DIR/setup.log"
}

start_glance() {
    local gport=$1
    local gurl=http://127.0.0.1:$gport
    keystone_setup "service:glance:image:$gurl" || die "adding the image service to the catalog failed: see $DIR/setup.log"
    setsid "$PY" "$VENV/bin/glance-api" --config-file "$DIR/glance-api.conf" \
        >>"$DIR/glance-api.out" 2>&1 </dev/null &
    echo $! >"$DIR/glance.pid"
    echo "GLANCE_URL=$gurl" >>"$DIR/urls"
}

# Keystone's side of Heat: the roles Heat hands out, the stack user domain, the catalog.
setup_heat_identity() {
    local hurl=$1 curl=$2 surl=$3
    local image=()
    grep -q '^GLANCE_URL=' "$DIR/urls" || image=("service:glance:image:$surl")
    keystone_setup role:heat_stack_owner role:heat_stack_user grant:heat_stack_owner \
        "service:heat:orchestration:$hurl/v1/%(tenant_id)s" "service:heat-cfn:cloudformation:$curl/v1" \
        "service:nova:compute:$surl/v2.1" "service:neutron:network:$surl" "${image[@]}" \
        "service:octavia:load-balancer:$surl" "service:trove:database:$surl/v1.0/%(tenant_id)s" \
        || die "adding Heat's roles and catalog entries failed: see $DIR/setup.log"
    "$PY" "$VENV/bin/heat-keystone-setup-domain" --stack-user-domain-name heat \
        --stack-domain-admin heat_domain_admin --stack-domain-admin-password "$ADMIN_PASSWORD" \
        >"$DIR/heat-domain.out" 2>>"$DIR/setup.log" || die "heat-keystone-setup-domain failed: see $DIR/setup.log"
}

start_heat() {
    local hport cport sport kurl=$1 domain_id
    hport=$(free_port)
    cport=$(free_port)
    sport=$(free_port)
    local hurl=http://127.0.0.1:$hport curl=http://127.0.0.1:$cport surl=http://127.0.0.1:$sport
    setup_heat_identity "$hurl" "$curl" "$surl"
    domain_id=$(sed -n 's/^stack_user_domain_id=//p' "$DIR/heat-domain.out")
    [ -n "$domain_id" ] || die "no stack_user_domain_id from heat-keystone-setup-domain: see $DIR/heat-domain.out"
    local auth="auth_type = password
auth_url = $kurl/v3
username = admin
password = $ADMIN_PASSWORD
user_domain_id = default"
    cat >"$DIR/heat.conf" <<HEOF
[DEFAULT]
host = solum-harness-heat
transport_url = fake://
log_file = $DIR/heat.log
debug = ${SOLUM_HEAT_DEBUG:-false}
convergence_engine = false
num_engine_workers = 1
periodic_interval = 600
region_name_for_services = RegionOne
heat_metadata_server_url = $curl
heat_waitcondition_server_url = $curl/v1/waitcondition
auth_encryption_key = solum-harness-auth-encryption-k1
stack_user_domain_id = $domain_id
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $ADMIN_PASSWORD
max_nested_stack_depth = 5
[database]
# Tests share one Heat: writers wait for the sqlite lock instead of failing a resource.
connection = sqlite:///$DIR/heat.sqlite?timeout=60
sqlite_fk = True
sqlite_synchronous = False
[paste_deploy]
api_paste_config = $VENV/etc/heat/api-paste.ini
[keystone_authtoken]
www_authenticate_uri = $kurl/v3
$auth
project_domain_id = default
project_name = admin
[trustee]
$auth
[clients_keystone]
auth_uri = $kurl
[ec2authtoken]
auth_uri = $kurl/v3
$auth
project_domain_id = default
project_name = admin
endpoint_override = $kurl
[oslo_policy]
enforce_new_defaults = False
enforce_scope = False
[oslo_concurrency]
lock_path = $DIR/locks
HEOF
    "$PY" "$VENV/bin/heat-manage" --config-file "$DIR/heat.conf" db_sync >>"$DIR/setup.log" 2>&1 \
        || die "heat-manage db_sync failed: see $DIR/setup.log"
    setsid "$PY" "$HERE/heat-server.py" "$DIR/heat.conf" "$hport" "$cport" "$sport" \
        >>"$DIR/heat-server.out" 2>&1 </dev/null &
    echo $! >"$DIR/heat.pid"
    {
        echo "HEAT_URL=$hurl"
        echo "HEAT_CFN_URL=$curl"
        echo "STUB_URL=$surl"
    } >>"$DIR/urls"
}

start() {
    DIR=$1
    ensure_venv
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    # A start that fails or is interrupted half-way stops what it had started.
    trap 'stop "$DIR"' EXIT
    trap 'exit 130' INT TERM
    : >"$DIR/urls"
    local kport gport=
    kport=$(free_port)
    local kurl=http://127.0.0.1:$kport
    case ",$SERVICES," in *,glance,*) gport=$(free_port); write_glance_conf "$gport" "$kurl" ;; esac
    start_keystone "$kport"
    # shellcheck disable=SC1091
    . "$DIR/admin.env"
    [ -n "$gport" ] && start_glance "$gport"
    case ",$SERVICES," in *,heat,*) start_heat "$kurl" ;; esac
    if [ -n "${WATCH:-}" ]; then
        # The servers' process groups are handed over now, not read from DIR at the end: the
        # caller may well have removed DIR (its temp dir) before it exits.
        local pids=()
        for f in "$DIR"/*.pid; do pids+=("$(cat "$f")"); done
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
            watcher "$WATCH" "$DIR" "${pids[@]}" </dev/null >/dev/null 2>&1 &
    fi
    [ -n "$gport" ] && wait_http "http://127.0.0.1:$gport/versions" 60 "$DIR/glance-api.log"
    if [ -f "$DIR/heat.pid" ]; then
        local hurl
        hurl=$(sed -n 's/^HEAT_URL=//p' "$DIR/urls")
        wait_http "$hurl/" 120 "$DIR/heat.log" "$DIR/heat.pid"
        wait_http "$(sed -n 's/^HEAT_CFN_URL=//p' "$DIR/urls")/" 10 "$DIR/heat.log"
    fi
    trap - EXIT INT TERM
    cat "$DIR/admin.env"
}

heat_agents() {
    local cache=${SOLUM_HEAT_AGENTS_DIR:-/var/cache/solum-test/heat-agents}
    local dir=$cache/heat_agents-13.0.0
    if [ ! -f "$dir/.complete" ]; then
        mkdir -p "$cache"
        exec 8>"$cache.lock"
        flock 8
        if [ ! -f "$dir/.complete" ]; then
            rm -rf "$dir" "$cache/sdist"
            python3 -m pip download -q --no-deps --no-binary :all: -d "$cache/sdist" heat-agents==13.0.0 >&2 \
                || die "pip download of heat-agents 13.0.0 failed"
            tar -xzf "$cache/sdist/heat_agents-13.0.0.tar.gz" -C "$cache" || die "unpacking heat-agents failed"
            touch "$dir/.complete"
        fi
        exec 8>&-
    fi
    echo "$dir"
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
    stop_pidfile "$1/heat.pid"
    stop_pidfile "$1/glance.pid"
    stop_pidfile "$1/keystone.pid"
}

SERVICES=glance
case "${1:-}" in
start)
    [ -n "${2:-}" ] || die "usage: $0 start DIR [--watch PID] [--services glance,heat]"
    dir=$2
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
        --watch) WATCH=${2:?--watch needs a pid}; shift 2 ;;
        --services) SERVICES=${2:?--services needs a list}; shift 2 ;;
        *) die "unknown option $1" ;;
        esac
    done
    start "$dir"
    ;;
stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop "$2" ;;
venv) ensure_venv; echo "$VENV" ;;
heat-agents) heat_agents ;;
*) die "usage: $0 start DIR [--watch PID] [--services glance,heat] | stop DIR | venv" ;;
esac
