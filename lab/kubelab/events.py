# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes Events from the controllers and the kubelet (what `kubectl describe` lists)."""
from __future__ import annotations

import secrets
import threading
from collections import deque

from .resources import BY_PATH
from .store import now

EVENTS = BY_PATH[("", "events")]
KEEP = 500  # the oldest events beyond this are deleted, as the API server's TTL would


class Recorder:
    def __init__(self, store, component):
        self.store, self.component = store, component
        self.lock = threading.Lock()
        self.recent = deque()

    def record(self, obj, reason, message, event_type="Normal"):
        meta = obj["metadata"]
        stamp = now()
        event = {
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}",
                         "namespace": meta.get("namespace", "default")},
            "involvedObject": {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "name": meta["name"],
                               "namespace": meta.get("namespace", ""), "uid": meta["uid"],
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": event_type, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "source": {"component": self.component},
            "reportingComponent": self.component, "reportingInstance": "chainops-lab",
        }
        created = self.store.create(EVENTS, event)
        with self.lock:
            self.recent.append((created["metadata"]["namespace"], created["metadata"]["name"]))
            expired = [self.recent.popleft() for _index in range(max(0, len(self.recent) - KEEP))]
        for namespace, name in expired:
            if self.store.get(EVENTS, namespace, name):
                self.store.delete(EVENTS, namespace, name)
