# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the lab from outside: JSON-RPC, /metrics, HTTP, docker exec, kubectl, and the fault CLI."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from chainlab import probe
from helpers.ansible_run import REPO

FAULT = REPO / "lab" / "fault"
wait_until = probe.wait_until


def heal(name, target):
    proc = subprocess.run([str(FAULT), "--heal", name, target], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def height(node):
    return int(probe.rpc(node.rpc_url, "eth_blockNumber"), 16)


def peers(node):
    return int(probe.rpc(node.rpc_url, "net_peerCount"), 16)


def metric(node, name):
    """A sample value scraped from the node's /metrics (parsed with the real exposition parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(node.metrics_url, timeout=3) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise KeyError(name)


def docker_exec(container, *argv):
    return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True, check=False)


def stalled(nodes, window):
    """True when no node's height moved during `window` seconds."""
    before = [height(n) for n in nodes]
    time.sleep(window)
    return [height(n) for n in nodes] == before


def metric_or_none(node, name):
    """metric(), or None while the node is not answering (restarting, recreated)."""
    try:
        return metric(node, name)
    except (OSError, KeyError):
        return None


def get_json(url):
    """(HTTP status, decoded JSON body) of a GET, or (None, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, None


def kubectl(*args):
    """kubectl against the lab's API server (namespace default unless -n says otherwise); its stdout."""
    from kubelab import control

    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=180, check=False,
                          env=dict(os.environ, KUBECONFIG=str(control.KUBECONFIG)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout
