# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's notification receiver: Alertmanager's webhooks land here and are kept.

    POST <any path>          record the notification, answer 200 (Alertmanager posts
                             to /alerts/critical, /alerts/warning, /alerts/info)
    GET  /records[?since=T]  the records (received after unix time T) as a JSON list
    GET  /-/healthy          200 once it serves

Each record is one JSON line appended to <dir>/notifications.jsonl:
{"received_at": <unix seconds>, "path": "/alerts/critical", "payload": <JSON body,
or the body as text when it is not JSON>}. Runs until killed (the lab records its pid).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDS = "notifications.jsonl"
MAX_BODY = 4 * 1024 * 1024


class Store:
    """Append-only JSON lines; reads go back to the file, so records outlive restarts."""

    def __init__(self, directory):
        self.path = Path(directory) / RECORDS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, path, body):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        record = {"received_at": time.time(), "path": path, "payload": payload}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line)
        return record

    def records(self, since=None):
        if not self.path.exists():
            return []
        with self._lock, open(self.path, encoding="utf-8") as records:
            lines = records.readlines()
        found = (json.loads(line) for line in lines if line.strip())
        return [r for r in found if since is None or r["received_at"] > since]


class Handler(BaseHTTPRequestHandler):
    server_version = "chainlab-receiver/1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": f"body of {length} bytes is over {MAX_BODY}"})
            return
        record = self.server.store.append(urlsplit(self.path).path, self.rfile.read(length))
        self._reply(200, {"recorded": record["received_at"]})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/-/healthy":
            self._reply(200, {"status": "ok"})
        elif url.path == "/records":
            since = parse_qs(url.query).get("since", [None])[-1]
            try:
                since = None if since is None else float(since)
            except ValueError:
                self._reply(400, {"error": f"since={since!r} is not a unix time in seconds"})
                return
            self._reply(200, self.server.store.records(since))
        else:
            self._reply(404, {"error": f"no {url.path}; GET /records[?since=<unix time>] or POST a notification"})

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.log_date_time_string()} {self.address_string()} {format % args}\n")


def make_server(host, port, directory):
    """A receiver bound to a loopback address only (port 0 picks a free one)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"--listen {host}: the lab receiver binds loopback addresses only")
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.store = Store(directory)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9095", help="host:port, loopback only")
    parser.add_argument("--dir", required=True, help="where notifications.jsonl is kept")
    args = parser.parse_args(argv)
    host, _sep, port = args.listen.rpartition(":")
    try:
        server = make_server(host, int(port), args.dir)
    except ValueError as err:
        parser.error(str(err))
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
