#!/usr/bin/env bash
# Make an OpenStack config drive (ISO 9660, label config-2, as Nova makes it) that hands a
# Planfile to the solum-agent in a Vagrant VM the way Heat does in the cloud: the server's
# initial metadata document (cfn-init-data inside MIME user_data) holds one `group: solum`
# deployment whose config is the Planfile, signalled with NO_SIGNAL.
#
#   make-config-drive.sh PLANFILE OUT.iso [APP_NAME]
#
# Needs genisoimage and python3.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PLANFILE OUT.iso [APP_NAME]" >&2; exit 2; }
planfile=$1 out=$2 app=${3:-$(basename "$(dirname "$(realpath "$planfile")")")}
[ -f "$planfile" ] || { echo "$0: $planfile: no such file" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
latest=$tmp/openstack/latest
mkdir -p "$latest"
python3 - "$planfile" "$app" "$latest" <<'PY'
import json, sys, uuid, pathlib
planfile, app, latest = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
server = str(uuid.uuid4())
doc = {
    "deployments": [{
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "solum-vagrant/" + app)),
        "name": app,
        "group": "solum",
        "config": pathlib.Path(planfile).read_text(),
        "inputs": [
            {"name": "deploy_server_id", "value": server},
            {"name": "deploy_action", "value": "CREATE"},
            {"name": "deploy_stack_id", "value": "vagrant/" + app},
            {"name": "deploy_resource_name", "value": app},
            {"name": "deploy_signal_transport", "value": "NO_SIGNAL"},
        ],
        "outputs": [],
    }],
    "os-collect-config": {"collectors": ["local"]},
}
b = "===============solum=="
user_data = (
    f'Content-Type: multipart/mixed; boundary="{b}"\nMIME-Version: 1.0\n\n'
    f'--{b}\nContent-Type: text/x-cfninitdata; charset="us-ascii"\nMIME-Version: 1.0\n'
    'Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="cfn-init-data"\n\n'
    + json.dumps(doc) + f"\n--{b}--\n"
)
(latest / "user_data").write_text(user_data)
(latest / "meta_data.json").write_text(json.dumps(
    {"uuid": server, "name": app, "hostname": app, "meta": {}, "public_keys": {}}))
(latest / "vendor_data2.json").write_text("{}")
PY
genisoimage -o "$out" -ldots -allow-lowercase -allow-multidot -l -publisher solum -quiet \
    -J -r -V config-2 "$tmp"
echo "$out"
