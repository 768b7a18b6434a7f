# SPDX-License-Identifier: GPL-3.0-or-later
"""`meta.k8s.io/v1 Table` rendering: the columns `kubectl get` prints."""
from __future__ import annotations

import datetime


def age(timestamp, now=None):
    """A creationTimestamp as kubectl's short age: 45s, 3m12s, 5h, 2d."""
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    seconds = int(((now or datetime.datetime.now(datetime.timezone.utc)) - created).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def pod_status_reason(pod):
    """What the STATUS column says: Terminating, a waiting reason (CrashLoopBackOff) or the phase."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting = status.get("state", {}).get("waiting")
        if waiting and waiting.get("reason"):
            return waiting["reason"]
    return pod.get("status", {}).get("phase", "Pending")


def _pod_row(pod):
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [f"{ready}/{total}", pod_status_reason(pod), restarts,
            pod.get("status", {}).get("podIP") or "<none>", "chainops-lab"]


def _deployment_row(obj):
    status = obj.get("status", {})
    return [f"{status.get('readyReplicas', 0)}/{obj['spec'].get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]


def _statefulset_row(obj):
    return [f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj['spec'].get('replicas', 0)}"]


def _replicaset_row(obj):
    status = obj.get("status", {})
    return [obj["spec"].get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0)]


def _string(name, priority=0):
    return {"name": name, "type": "string", "format": "", "description": "", "priority": priority}


def _integer(name):
    return {"name": name, "type": "integer", "format": "", "description": "", "priority": 0}


COLUMNS = {
    "pods": ([_string("Ready"), _string("Status"), _integer("Restarts"), _string("IP", 1), _string("Node", 1)],
             _pod_row),
    "deployments": ([_string("Ready"), _integer("Up-to-date"), _integer("Available")], _deployment_row),
    "statefulsets": ([_string("Ready")], _statefulset_row),
    "replicasets": ([_integer("Desired"), _integer("Current"), _integer("Ready")], _replicaset_row),
}


def table(res, objects, resource_version, include_object="Metadata"):
    extra, row = COLUMNS.get(res.plural, ([], lambda obj: []))
    wide = [column for column in extra if column["priority"]]
    columns = [{**_string("Name"), "format": "name"}, *[c for c in extra if not c["priority"]], _string("Age"), *wide]
    rows = []
    for obj in objects:
        if include_object == "Object":
            embedded = obj
        elif include_object == "None":
            embedded = None
        else:
            embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        cells = row(obj)  # wide (priority 1) columns come last in COLUMNS, and after Age in the table
        narrow = len(extra) - len(wide)
        rows.append({"cells": [obj["metadata"]["name"], *cells[:narrow], age(obj["metadata"].get("creationTimestamp")),
                               *cells[narrow:]],
                     "object": embedded})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}
