# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for the DApp services (blockchain-backend, coordinator) of runbooks 002 and 003.

Listens on $POD_IP:$PORT. Its behaviour comes from the environment, so a ConfigMap
change plus a restart, `kubectl set env` or a rollout undo is visible from outside:
    /health   200 {"status": "ok"}, or 503 {"status": "maintenance"} when MAINTENANCE_MODE=true
    /ready    200 while the process serves (the readiness probe: maintenance keeps pods in rotation)
    /config   the effective flags (MAINTENANCE_MODE, FEATURE_*) and the process id
    /version  the app, APP_VERSION (defaults to the image tag) and the image
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def flags(environ):
    return {k: v for k, v in sorted(environ.items()) if k == "MAINTENANCE_MODE" or k.startswith("FEATURE_")}


def in_maintenance(environ):
    return environ.get("MAINTENANCE_MODE", "false").strip().lower() in ("1", "true", "yes", "on")


def make_handler(name, environ):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            if not self.path.startswith("/ready"):  # the readiness probe every 2 s would drown the log
                sys.stdout.write(f"{self.address_string()} {fmt % args}\n")
                sys.stdout.flush()

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/health":
                down = in_maintenance(environ)
                return self._json(503 if down else 200, {"status": "maintenance" if down else "ok", "app": name})
            if path == "/ready":
                return self._json(200, {"status": "ready"})
            if path == "/config":
                return self._json(200, {"app": name, "pid": os.getpid(), "flags": flags(environ)})
            if path == "/version":
                return self._json(200, {"app": name, "version": environ.get("APP_VERSION", "dev"),
                                        "image": environ.get("IMAGE", "")})
            return self._json(404, {"error": f"no route {path}"})

        def _json(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=os.environ.get("APP_NAME", "webapp"))
    args = parser.parse_args(argv)
    address = (os.environ.get("POD_IP", "127.0.0.1"), int(os.environ.get("PORT", "8080")))
    server = ThreadingHTTPServer(address, make_handler(args.name, dict(os.environ)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{args.name} {os.environ.get('APP_VERSION', 'dev')} listening on {address[0]}:{address[1]} "
          f"flags={json.dumps(flags(os.environ))}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
