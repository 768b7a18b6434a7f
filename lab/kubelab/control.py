# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the lab's Kubernetes API from lab/labctl: start, apply the manifests, wait, show, stop.

The manifests in `manifests/` are applied as they are, after `${LAB_STATE}` is
replaced by the lab's state directory (the only host-specific value they need).
"""
from __future__ import annotations

import os
import shutil
import string
import sys
from pathlib import Path

import yaml

from chainlab import probe, procs, topology

from . import certs
from .client import Client, path_of

STATE = topology.STATE / "kube"
KUBECONFIG = STATE / "kubeconfig"
HOST, PORT = "127.0.0.1", 6443
SERVER = f"https://{HOST}:{PORT}"
PROCESS = "kube-apiserver"  # pid file lab/.state/kube-apiserver.pid
MANIFESTS = Path(__file__).resolve().parent / "manifests"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def client():
    return Client(SERVER, certs.ensure_token(STATE / "token"), STATE / "tls" / "ca.crt")


def prepare():
    """TLS material, token and kubeconfig: what clients need, written before the server starts."""
    ca, _crt, _key = certs.ensure_tls(STATE / "tls")
    token = certs.ensure_token(STATE / "token")
    return certs.write_kubeconfig(KUBECONFIG, certs.kubeconfig(SERVER, ca.read_bytes(), token))


def start(wait=30):
    """Start the API server process (unless it runs) and wait until it answers."""
    prepare()
    lab_dir = str(topology.REPO / "lab")
    started = procs.start_argv(PROCESS, [sys.executable, "-m", "kubelab", "serve", "--state", str(STATE),
                                         "--host", HOST, "--port", str(PORT)],
                               env=dict(os.environ, PYTHONPATH=lab_dir))
    api = client()
    if not probe.wait_until(lambda: _answers(api), wait, 0.3):
        sys.exit(f"the lab's Kubernetes API did not answer on {SERVER} within {wait}s; "
                 f"see {topology.STATE / (PROCESS + '.log')}")
    return started


def _answers(api):
    try:
        return api.request("GET", "/version", timeout=2)[0] == 200
    except OSError:
        return False


def manifests():
    """Every object of every manifest (a v1 List each), `${LAB_STATE}` filled in (`$(VAR)` is Kubernetes' own)."""
    documents = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        text = string.Template(path.read_text()).safe_substitute(LAB_STATE=str(topology.STATE))
        for doc in yaml.safe_load_all(text):
            documents += doc["items"] if doc and doc.get("kind") == "List" else [doc] if doc else []
    return documents


def apply(api, documents):
    """Create what is missing, replace what differs (its status is the server's); return what changed."""
    changed = []
    for doc in documents:
        meta = doc["metadata"]
        collection = path_of(doc["kind"], meta.get("namespace"))
        code, current = api.request("GET", f"{collection}/{meta['name']}")
        if code == 404:
            code, reply = api.request("POST", collection, doc)
        elif code == 200 and _differs(doc, current):
            code, reply = api.request("PUT", f"{collection}/{meta['name']}", {
                **doc, "metadata": {**current["metadata"], **meta}})
        else:
            continue
        if code not in (200, 201):
            sys.exit(f"applying {doc['kind']} {meta['name']}: {reply.get('message', reply)}")
        changed.append(f"{doc['kind'].lower()}/{meta['name']}")
    return changed


def _differs(wanted, current):
    """True when a field the manifest sets has another value on the server (defaults are ignored)."""
    if isinstance(wanted, dict):
        return not isinstance(current, dict) or any(_differs(v, current.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return not isinstance(current, list) or len(wanted) != len(current) or \
            any(_differs(w, c) for w, c in zip(wanted, current))
    return wanted != current


def workloads(api):
    """[(namespace, kind, name, ready, desired, up to date)] of every Deployment and StatefulSet."""
    rows = []
    for kind in WORKLOAD_KINDS:
        code, listing = api.request("GET", path_of(kind))
        for obj in listing.get("items", []) if code == 200 else []:
            status, spec = obj.get("status", {}), obj["spec"]
            settled = status.get("observedGeneration") == obj["metadata"].get("generation") and (
                status.get("updatedReplicas", 0) == spec["replicas"] if kind == "Deployment"
                else status.get("currentRevision") == status.get("updateRevision"))
            rows.append((obj["metadata"]["namespace"], kind.lower(), obj["metadata"]["name"],
                         status.get("readyReplicas", 0), spec["replicas"], settled))
    return rows


def wait_ready(api, timeout=180):
    """Wait until every workload has all its replicas ready and up to date; return the rows."""
    def settled():
        rows = workloads(api)
        return rows if rows and all(ready == desired and done for *_x, ready, desired, done in rows) else None
    return probe.wait_until(settled, timeout)


def table(rows):
    header = ("namespace", "workload", "ready", "status")
    body = [(ns, f"{kind}/{name}", f"{ready}/{desired}", "ready" if ready == desired and done else "progressing")
            for ns, kind, name, ready, desired, done in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *body])


def running():
    return procs.running(PROCESS) is not None


def stop():
    """Stop the server (it stops its pods), then any pod process whose pid file is left; drop the state."""
    stopped = procs.stop(PROCESS, wait=30)
    leftovers = sorted((STATE / "pids").glob("*.pid")) if (STATE / "pids").is_dir() else []
    for pidfile in leftovers:
        procs.terminate(int(pidfile.read_text()), wait=5)
        pidfile.unlink()
    shutil.rmtree(STATE, ignore_errors=True)
    return stopped, len(leftovers)
