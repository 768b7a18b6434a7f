# SPDX-License-Identifier: GPL-3.0-or-later
"""What the lab itself needs to know about a node: height, peers, health."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def rpc(url, method, params=None, timeout=2.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        answer = json.load(reply)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def health(url, timeout=2.0):
    """(healthy, reason) from the node's /health; unreachable is a reason too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return True, json.load(reply).get("status", "ok")
    except urllib.error.HTTPError as err:
        try:
            return False, json.load(err).get("reason", f"HTTP {err.code}")
        except ValueError:
            return False, f"HTTP {err.code}"
    except (OSError, ValueError) as err:
        return False, f"unreachable: {getattr(err, 'reason', err)}"


def node_state(node):
    healthy, reason = health(node.health_url)
    state = {"node": node.name, "region": node.region, "healthy": healthy, "reason": reason,
             "height": None, "peers": None}
    try:
        state["height"] = int(rpc(node.rpc_url, "eth_blockNumber"), 16)
        state["peers"] = int(rpc(node.rpc_url, "net_peerCount"), 16)
    except (OSError, ValueError, RuntimeError):
        pass
    return state


def fleet_state(nodes):
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        return list(pool.map(node_state, nodes))


def wait_until(predicate, timeout, interval=1.0):
    """Poll `predicate` until it returns a truthy value or `timeout` passes; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_healthy(nodes, timeout=90):
    """Wait until every node is healthy and the chain advanced past where it was."""
    start = max((s["height"] or 0) for s in fleet_state(nodes)) if nodes else 0

    def settled():
        states = fleet_state(nodes)
        ok = all(s["healthy"] for s in states) and min((s["height"] or 0) for s in states) > start
        return states if ok else None

    return wait_until(settled, timeout)
