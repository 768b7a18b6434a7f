# SPDX-License-Identifier: GPL-3.0-or-later
"""The admin endpoint (POST /admin/<command> on the metrics port) and its client.

Authorization is `Bearer <token>`, the token being `$DATA_DIR/admin.token` (created at
first start, mode 0600) and compared in constant time.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from .chain import write_atomic
from .http import json_response

log = logging.getLogger("bitcell")

TOKEN_FILE = "admin.token"
COMMANDS = ("ban", "unban", "reset-trust", "mempool", "status")


def read_token(data_dir):
    """The admin token, or None if the node never created one."""
    try:
        return (Path(data_dir) / TOKEN_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def ensure_token(data_dir):
    token = read_token(data_dir)
    if token:
        return token
    token = secrets.token_hex(32)
    try:
        write_atomic(Path(data_dir) / TOKEN_FILE, token.encode() + b"\n", mode=0o600)
    except OSError as err:
        log.error("cannot write %s: %s; the admin endpoint will refuse every request", TOKEN_FILE, err)
        return None
    return token


class BadRequest(ValueError):
    pass


def _miner_list(body):
    miners = body.get("miners")
    if not isinstance(miners, list) or not miners or not all(isinstance(m, str) and m for m in miners):
        raise BadRequest('expected {"miners": ["<miner id>", ...]}')
    return miners


def _limit(body, key, minimum):
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise BadRequest(f"{key} must be an integer >= {minimum}")
    return value


class AdminAPI:
    def __init__(self, node, token):
        self.node = node
        self.token = token

    def authorized(self, request):
        scheme, presented = request.headers.get("authorization", "").partition(" ")[::2]
        if self.token is None or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    async def handle(self, request, command):
        if request.method != "POST":
            return json_response({"error": "use POST"}, 405)
        if not self.authorized(request):
            return json_response({"error": "unauthorized: send Authorization: Bearer <admin.token>"}, 401)
        if command not in COMMANDS:
            return json_response({"error": f"unknown command {command!r}; one of {', '.join(COMMANDS)}"}, 404)
        try:
            body = json.loads(request.body) if request.body.strip() else {}
            if not isinstance(body, dict):
                raise BadRequest("body must be a JSON object")
            result = self.run(command, body)
        except ValueError as err:  # BadRequest, or a body that is not JSON
            return json_response({"error": str(err)}, 400)
        except OSError as err:
            log.error("admin %s failed: %s", command, err)
            return json_response({"error": f"{command} failed: {err}"}, 500)
        return json_response({"ok": True, "command": command, **result})

    def run(self, command, body):
        node = self.node
        if command == "ban":
            miners = _miner_list(body)
            unknown = sorted(set(miners) - set(node.cfg.miners))
            if unknown:
                raise BadRequest(f"unknown miner(s) {', '.join(unknown)}; the miner set is {', '.join(node.cfg.miners)}")
            node.trust.ban(miners)
            log.warning("admin: banned miners %s", ",".join(miners))
        elif command == "unban":
            if body.get("all") is True:
                node.trust.reset()
                log.info("admin: unbanned all miners")
            else:
                miners = _miner_list(body)
                node.trust.unban(miners)
                log.info("admin: unbanned miners %s", ",".join(miners))
        elif command == "reset-trust":
            node.trust.reset()
            log.info("admin: trust state reset")
        elif command == "mempool":
            min_fee, max_pending = _limit(body, "min_fee", 0), _limit(body, "mempool_max", 1)
            if min_fee is None and max_pending is None:
                raise BadRequest('expected {"min_fee": <int>} and/or {"mempool_max": <int>}')
            dropped = node.mempool.set_limits(min_fee=min_fee, max_pending=max_pending)
            log.info("admin: mempool limits min_fee=%d mempool_max=%d (dropped %d pending)",
                     node.mempool.min_fee, node.mempool.max_pending, dropped)
            return {"dropped": dropped, **node.status()}
        return node.status()


def call(url, token, command, body=None, timeout=5.0):
    """POST an admin command; returns (http status, decoded JSON reply). Raises OSError if unreachable."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/admin/{command}", data=json.dumps(body or {}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.load(err)
        except ValueError:
            return err.code, {"error": f"HTTP {err.code}"}
