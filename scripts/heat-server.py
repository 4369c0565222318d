"""heat-api, heat-api-cfn and heat-engine in one process, for scripts/openstack-harness.sh.

Heat 27 has no heat-all and its only real RPC driver is RabbitMQ; in one process the three
talk over oslo.messaging's in-memory fake:// transport. The engine service object is started
directly (the service launcher would fork it into a child the in-memory transport cannot
reach). The same process also answers, on a third port, the few probes Heat makes of the
compute, network and image endpoints the harness puts in the catalog so that `template
validate` accepts templates with Nova/Neutron/Glance resources: nothing here creates servers.
The load-balancer and database (Octavia, Trove) catalog entries point here too; Heat's
template validation only looks them up in the catalog and never calls them.

    python heat-server.py CONFIG_FILE API_PORT CFN_PORT STUB_PORT
"""
# Heat's own entry points choose the threading backend before anything imports oslo_service.
from oslo_service import backend

backend.init_backend(backend.BackendType.THREADING)

import harness_sqlite  # noqa: E402,F401  (BEGIN IMMEDIATE for SQLite, see there)
import json  # noqa: E402
import signal  # noqa: E402
import socketserver  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from wsgiref import simple_server  # noqa: E402

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

from heat.common import config  # noqa: E402
from heat.common import messaging  # noqa: E402
from heat.engine import template  # noqa: E402
from heat.rpc import api as rpc_api  # noqa: E402
from heat import version  # noqa: E402

NEUTRON_EXTENSIONS = ["security-group", "router", "external-net", "quotas", "agent",
                      "subnet_allocation", "port-security", "extra_dhcp_opt", "binding"]


class ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    # heat-api's own listen backlog ([heat_api] backlog, 4096), not socketserver's 5: a burst
    # of polls queues as it would at a real heat-api instead of losing SYNs.
    request_queue_size = 4096


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        logging.getLogger("heat-server.http").info(fmt, *args)


def stub(environ, start_response):
    """What Heat asks of the stub catalog entries: Neutron's extension list, version lists."""
    path = environ.get("PATH_INFO", "")
    if path.rstrip("/").endswith("/extensions"):
        body = {"extensions": [{"alias": a, "name": a, "description": a, "links": [],
                                "updated": "2013-01-01T00:00:00-00:00"}
                               for a in NEUTRON_EXTENSIONS]}
    else:
        body = {"versions": [{"id": "v2.0", "status": "CURRENT", "links": []}]}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]


def serve(app, port):
    server = simple_server.make_server("127.0.0.1", port, app, server_class=ThreadingServer,
                                       handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv):
    conf_file, api_port, cfn_port, stub_port = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    logging.register_options(cfg.CONF)
    cfg.CONF(args=["--config-file", conf_file], project="heat", prog="heat-engine",
             version=version.version_info.version_string())
    logging.setup(cfg.CONF, "heat")
    config.set_config_defaults()
    messaging.setup()
    config.startup_sanity_check()
    if not template._get_template_extension_manager().names():
        sys.exit("heat-server: no template format plugins registered")

    from heat.engine import service as engine_service

    engine = engine_service.EngineService(cfg.CONF.host, rpc_api.ENGINE_TOPIC)
    engine.start()
    servers = [serve(config.load_paste_app("heat-api"), api_port),
               serve(config.load_paste_app("heat-api-cfn"), cfn_port),
               serve(stub, stub_port)]
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("heat-server: ready", flush=True)
    done.wait()
    for s in servers:
        s.shutdown()
    engine.stop()


if __name__ == "__main__":
    main(sys.argv)
