"""A tiny web app built with the python-lp custom language pack.
GET / greets, GET /healthz says ok. Listens on $PORT (default 8080)."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


def load_greeting(path=os.path.join(HERE, "greeting.txt")):
    """The greeting python-lp's build.sh wrote from the GREETING parameter."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or "Hello"
    except FileNotFoundError:
        return "Hello"


def respond(path, greeting):
    """(status, body) for a request path."""
    if path == "/":
        return 200, f"{greeting} from langpack-web\n"
    if path == "/healthz":
        return 200, "ok\n"
    return 404, "not found\n"


class Handler(BaseHTTPRequestHandler):
    greeting = "Hello"

    def do_GET(self):
        status, body = respond(self.path, self.greeting)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    Handler.greeting = load_greeting()
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"langpack-web listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
