# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS front of the API: routing, bearer-token auth, content negotiation, watch streams, pod logs."""
from __future__ import annotations

import hmac
import json
import os
import ssl
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import errors, resources, selectors, tables
from .resources import BY_PATH

MAX_WATCH_SECONDS = 1800


class Route:
    """/api/v1/namespaces/{ns}/{plural}/{name}/{sub} and the /apis/{group}/v1 and cluster-wide forms."""

    def __init__(self, path):
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        self.discovery = None
        self.res = self.ns = self.name = self.sub = None
        if parts[0] == "api" and len(parts) >= 2 and parts[1] == "v1":
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3 and parts[2] == "v1":
            group, rest = parts[1], parts[3:]
        else:
            self.discovery = "/" + "/".join(parts)
            return
        if not rest:
            self.discovery = "/api/v1" if not group else f"/apis/{group}/v1"
            return
        if rest[0] == "namespaces" and len(rest) >= 3:
            self.ns, rest = rest[1], rest[2:]
        self.res = BY_PATH.get((group, rest[0]))
        if self.res is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        self.name = rest[1] if len(rest) > 1 else None
        self.sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (self.sub and self.sub not in self.res.subresources):
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")


def _discovery(path):
    documents = {"/version": resources.VERSION, "/api": resources.api_versions(),
                 "/apis": resources.api_group_list(), "/api/v1": resources.resource_list(""),
                 "/apis/apps": resources.api_group("apps"), "/apis/apps/v1": resources.resource_list("apps"),
                 "/healthz": "ok", "/livez": "ok", "/readyz": "ok", "/openapi/v3": resources.openapi_v3_root(),
                 "/openapi/v3/api/v1": resources.openapi_v3(""),
                 "/openapi/v3/apis/apps/v1": resources.openapi_v3("apps")}
    if path not in documents:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    return documents[path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubelab"

    def log_message(self, fmt, *args):  # one line per request in the server log is noise
        pass

    # --- plumbing ------------------------------------------------------------------------

    def _query(self):
        parsed = urllib.parse.urlsplit(self.path)
        return parsed.path, {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self):
        header = self.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {self.server.token}".encode())

    def _handle(self, method):
        path, query = self._query()
        body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        try:
            if not self._authorized():
                raise errors.ApiError(401, "Unauthorized", "Unauthorized")
            if body and "protobuf" in self.headers.get("Content-Type", ""):
                raise errors.ApiError(415, "UnsupportedMediaType", "the lab's API speaks JSON and YAML, not protobuf")
            route = Route(path)
            if route.discovery:
                if method != "GET":
                    raise errors.ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
                document = _discovery(route.discovery)
                return self._send(200, document, "text/plain" if isinstance(document, str) else "application/json")
            return self._resource(method, route, query, body)
        except errors.ApiError as err:
            self._send(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # noqa: BLE001 - a bug answers 500 in Status shape, and is logged
            traceback.print_exc()
            self._send(500, errors.ApiError(500, "InternalError", f"internal error: {err!r}").status())

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # --- resources -------------------------------------------------------------------------

    def _resource(self, method, route, query, body):
        api, res, ns, name, sub = self.server.api, route.res, route.ns, route.name, route.sub
        if res.namespaced and name and ns is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = "dryRun" in query
        content_type = self.headers.get("Content-Type", "")
        if sub == "log":
            return self._log(route, query)
        if sub == "scale":
            if method == "GET":
                return self._send(200, api.get_scale(res, ns, name))
            if method == "PUT":
                return self._send(200, api.replace_scale(res, ns, name, body, dry_run))
            if method == "PATCH":
                return self._send(200, api.patch_scale(res, ns, name, content_type, body, dry_run))
        elif sub == "status":
            if method == "GET":
                return self._send(200, api.get(res, ns, name))
            if method == "PUT":
                return self._send(200, api.replace_status(res, ns, name, body))
            if method == "PATCH":
                return self._send(200, api.patch_status(res, ns, name, content_type, body))
        elif name is None:
            if method == "GET" and query.get("watch") in ("1", "true"):
                return self._watch(route, query)
            if method == "GET":
                objects, rv = api.list(res, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
                return self._send(200, self._listing(res, objects, rv, query))
            if method == "POST":
                return self._send(201, api.create(res, ns, body, dry_run))
        else:
            if method == "GET":
                obj = api.get(res, ns, name)
                return self._send(200, self._listing(res, [obj], obj["metadata"]["resourceVersion"], query)
                                  if self._wants_table() else obj)
            if method == "PUT":
                return self._send(200, api.replace(res, ns, name, body, dry_run))
            if method == "PATCH":
                return self._send(200, api.patch(res, ns, name, content_type, body, dry_run))
            if method == "DELETE":
                return self._send(200, api.delete(res, ns, name, _grace_period(query, body)))
        raise errors.ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    def _wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def _listing(self, res, objects, rv, query):
        if self._wants_table():
            return tables.table(res, objects, rv, query.get("includeObject", "Metadata"))
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                "metadata": {"resourceVersion": rv}, "items": objects}

    def _start_stream(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, route, query):
        """A chunked stream of {"type", "object"} lines until timeoutSeconds or the client leaves."""
        store, res, ns = self.server.api.store, route.res, route.ns
        try:
            labels = selectors.parse_labels(query.get("labelSelector", ""))
            fields = selectors.parse_fields(query.get("fieldSelector", ""))
        except selectors.SelectorError as err:
            raise errors.bad_request(str(err)) from None

        def wanted(obj):
            return ((ns is None or obj["metadata"].get("namespace") == ns)
                    and selectors.matches_labels(labels, obj["metadata"].get("labels"))
                    and selectors.matches_fields(fields, obj))

        start = query.get("resourceVersion", "")
        if start in ("", "0"):  # "any version": replay the current state as ADDED, then follow
            objects, rv = store.list(res, ns, wanted)
            initial = [("ADDED", obj) for obj in objects]
        else:
            initial, rv = [], start
        rv = int(rv)
        store.events_since(rv, res.plural, 0)  # 410 Gone before the stream starts, as a Status
        self._start_stream("application/json")
        deadline = time.monotonic() + min(int(query.get("timeoutSeconds") or MAX_WATCH_SECONDS), MAX_WATCH_SECONDS)
        events = initial
        as_table = self._wants_table()  # `kubectl get -w` watches rows, one Table per event
        try:
            while True:
                for event_type, obj in events:
                    if wanted(obj):
                        if as_table:
                            obj = tables.table(res, [obj], obj["metadata"]["resourceVersion"],
                                               query.get("includeObject", "Metadata"))
                        self._chunk(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.server.stopping:
                    break
                try:
                    events, rv = store.events_since(rv, res.plural, min(remaining, 1.0))
                except errors.ApiError as err:
                    self._chunk(json.dumps({"type": "ERROR", "object": err.status()}).encode() + b"\n")
                    break
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _log(self, route, query):
        pod = self.server.api.get(route.res, route.ns, route.name)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container") or containers[0]
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {route.name}")
        path = self.server.log_path(pod, container)
        text = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]):]) if int(query["tailLines"]) > 0 else ""
        if query.get("follow") not in ("true", "1"):
            return self._send(200, text, "text/plain")
        self._start_stream("text/plain")
        try:
            self._chunk(text.encode())
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                while not self.server.stopping and self.server.api.store.get(route.res, route.ns, route.name):
                    data = handle.read()
                    if data:
                        self._chunk(data)
                    time.sleep(0.5)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


def _grace_period(query, body):
    """gracePeriodSeconds from the query or from DeleteOptions in the body."""
    if "gracePeriodSeconds" in query:
        return int(query["gracePeriodSeconds"])
    try:
        options = json.loads(body) if body else {}
    except ValueError:
        raise errors.bad_request("the body of a DELETE must be DeleteOptions") from None
    grace = (options or {}).get("gracePeriodSeconds")
    return int(grace) if grace is not None else None


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, api, token, cert, key, log_path):
        super().__init__(address, Handler)
        self.api, self.token, self.log_path, self.stopping = api, token, log_path, False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        # The handshake happens in the request thread, so a slow client cannot stall accept().
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
