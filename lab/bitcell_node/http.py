# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny asyncio HTTP/1.1 server shared by the JSON-RPC, metrics and admin endpoints.

One request per connection (`Connection: close`), bodies by Content-Length only.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

log = logging.getLogger("bitcell")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
READ_TIMEOUT = 10.0


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict          # lower-case names
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


def json_response(obj, status=200):
    return Response(status=status, body=json.dumps(obj).encode() + b"\n")


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


async def _read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise HTTPError(431, "request header too large")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise HTTPError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise HTTPError(505, "HTTP version not supported")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HTTPError(400, "malformed header")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HTTPError(411, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HTTPError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise HTTPError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return Request(method=method.upper(), path=parts.path or "/", query=parts.query, headers=headers, body=body)


def _encode(response):
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    head = [f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Connection: close"]
    head += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


class HTTPServer:
    """Serve `handler(Request) -> Response` (a coroutine) on host:port."""

    def __init__(self, name, host, port, handler):
        self.name, self.host, self.port, self.handler = name, host, port, handler
        self._server = None

    async def start(self):
        self._server = await asyncio.start_server(self._serve, host=self.host, port=self.port,
                                                  reuse_address=True, limit=MAX_HEADER_BYTES * 2)

    async def close(self):
        """Stop listening. (No wait_closed: on 3.11 it also waits for idle keep-open clients.)"""
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader, writer):
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    request = await _read_request(reader)
            except HTTPError as err:
                response = json_response({"error": str(err)}, err.status)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                response = json_response({"error": "malformed request"}, 400)
            else:
                try:
                    response = await self.handler(request)
                except HTTPError as err:
                    response = json_response({"error": str(err)}, err.status)
                except Exception:  # pylint: disable=broad-except
                    log.exception("%s: internal error serving %s %s", self.name, request.method, request.path)
                    response = json_response({"error": "internal error"}, 500)
            writer.write(_encode(response))
            async with asyncio.timeout(READ_TIMEOUT):
                await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
