"""A tiny web app for solum-agent's buildpack builds: standard library only.

GET /         a small page
GET /healthz  "ok"
Listens on $PORT (default 5000) on all addresses.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html>
<html><head><title>solum python-web</title></head>
<body><h1>Hello from solum python-web</h1><p>Served by {server} on port {port}.</p></body></html>
"""


def respond(path, port):
    """Status, content type and body for a request path."""
    if path == "/healthz":
        return 200, "text/plain; charset=utf-8", "ok"
    if path in ("/", "/index.html"):
        return 200, "text/html; charset=utf-8", PAGE.format(server="python-web", port=port)
    return 404, "text/plain; charset=utf-8", "not found"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        status, ctype, body = respond(self.path.split("?", 1)[0], self.server.server_port)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print("%s - %s" % (self.address_string(), fmt % args), flush=True)


def main():
    port = int(os.environ.get("PORT", "5000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print("python-web listening on port %d" % port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
