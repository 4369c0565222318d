"""A tiny web app that keeps values in its PostgreSQL service (solum-agent example).

GET /write?v=TEXT stores TEXT through the URL the agent injects (DATABASE_URL); GET /read returns
every stored value, one a line; GET / answers the health check. Only the standard library
and the service's command-line client (the app is built FROM the services image), so the
credentials go to the client through its environment, never a command line, where the
client allows it.
"""
import http.server
import os
import subprocess
import urllib.parse

URL = urllib.parse.urlsplit(os.environ["DATABASE_URL"])

PG = {
    "PGHOST": URL.hostname,
    "PGPORT": str(URL.port),
    "PGUSER": urllib.parse.unquote(URL.username),
    "PGPASSWORD": urllib.parse.unquote(URL.password),
    "PGDATABASE": URL.path.lstrip("/"),
}
TABLE = "CREATE TABLE IF NOT EXISTS kv (id serial PRIMARY KEY, v text NOT NULL);"


def write(value):
    # The value travels hex-encoded: no quoting to get wrong.
    sql = TABLE + "INSERT INTO kv (v) VALUES (convert_from(decode('%s', 'hex'), 'UTF8'));"
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql % value.encode().hex()], PG)


def read():
    out = run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-c", TABLE, "-c", "SELECT encode(convert_to(v, 'UTF8'), 'hex') FROM kv ORDER BY id;"], PG)
    return [bytes.fromhex(l).decode() for l in out.split()]

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
