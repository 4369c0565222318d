"""A tiny web app that keeps values in its Redis service (solum-agent example).

GET /write?v=TEXT stores TEXT through the URL the agent injects (REDIS_URL); GET /read returns
every stored value, one a line; GET / answers the health check. Only the standard library
and the service's command-line client (the app is built FROM the services image), so the
credentials go to the client through its environment, never a command line, where the
client allows it.
"""
import http.server
import os
import subprocess
import urllib.parse

URL = urllib.parse.urlsplit(os.environ["REDIS_URL"])

AUTH = {"REDISCLI_AUTH": urllib.parse.unquote(URL.password)}
CLIENT = ["redis-cli", "--no-auth-warning", "-h", URL.hostname, "-p", str(URL.port)]


def write(value):
    out = run(CLIENT + ["RPUSH", "kv", value], AUTH)
    if "ERR" in out or "NOAUTH" in out:
        raise subprocess.CalledProcessError(1, "redis-cli", stderr=out)


def read():
    out = run(CLIENT + ["--raw", "LRANGE", "kv", "0", "-1"], AUTH)
    return [l for l in out.splitlines() if l]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            if url.path == "/write":
                value = urllib.parse.parse_qs(url.query).get("v", [""])[0]
                write(value)
                body = "stored\n"
            elif url.path == "/read":
                body = "".join(v + "\n" for v in read())
            elif url.path == "/":
                body = "ok\n"
            else:
                self.send_error(404)
                return
            status = 200
        except subprocess.CalledProcessError as e:
            status, body = 503, "service error: %s\n" % (e.stderr or "").strip()
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def run(cmd, env=None, stdin=None):
    full = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, env=full, input=stdin, capture_output=True, text=True,
                          check=True, timeout=30).stdout


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
