# SPDX-License-Identifier: GPL-3.0-or-later
"""Objects by (resource, namespace, name) with a monotonic resourceVersion, watches and a JSON file.

Every write takes the next resourceVersion and appends a watch event; watchers wait
on one condition variable. A writer that passes the resourceVersion it read gets a
409 if someone wrote in between (optimistic concurrency, as the real API server).
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import secrets
import threading
import uuid
from collections import deque

from . import errors

EVENT_LOG = 5000  # watch events kept; older resourceVersions get 410 Gone


def _unversioned(obj):
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}


def random_suffix(length=5):
    """Pod-name suffixes in the alphabet Kubernetes uses (no vowels, no look-alikes)."""
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _index in range(length))


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self, path=None):
        self.path = path
        self.cond = threading.Condition()
        self.objects = {}           # (plural, namespace, name) -> object
        self.rv = 0
        self.log = deque(maxlen=EVENT_LOG)  # (rv, plural, type, object)
        self.dirty = False
        if path and os.path.exists(path):
            saved = json.loads(open(path, encoding="utf-8").read())
            self.rv = saved["rv"]
            self.objects = {tuple(key.split("/", 2)): obj for key, obj in saved["objects"].items()}

    # --- reads -----------------------------------------------------------------------

    def get(self, res, namespace, name):
        with self.cond:
            obj = self.objects.get((res.plural, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def must_get(self, res, namespace, name):
        obj = self.get(res, namespace, name)
        if obj is None:
            raise errors.not_found(res, name)
        return obj

    def list(self, res, namespace=None, predicate=None):
        """(objects sorted by namespace and name, the store's resourceVersion)."""
        with self.cond:
            found = [copy.deepcopy(obj) for (plural, ns, _name), obj in sorted(self.objects.items())
                     if plural == res.plural and (namespace is None or ns == namespace)
                     and (predicate is None or predicate(obj))]
            return found, str(self.rv)

    # --- writes ----------------------------------------------------------------------

    def _commit(self, res, event_type, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (res.plural, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if event_type == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.log.append((self.rv, res.plural, event_type, copy.deepcopy(obj)))
        self.dirty = True
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def create(self, res, obj):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self.cond:
            if (res.plural, meta.get("namespace", ""), meta["name"]) in self.objects:
                raise errors.already_exists(res, meta["name"])
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
            meta.pop("resourceVersion", None)
            if "spec" in obj and res.has_status:
                meta["generation"] = 1
            obj.update(apiVersion=res.api_version, kind=res.kind)
            return self._commit(res, "ADDED", obj)

    def update(self, res, obj, check_version=True):
        """Replace an object; a resourceVersion that is not current is a 409 (when checked)."""
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        with self.cond:
            current = self.objects.get((res.plural, meta.get("namespace", ""), meta["name"]))
            if current is None:
                raise errors.not_found(res, meta["name"])
            if check_version and meta.get("resourceVersion") not in (None, "", current["metadata"]["resourceVersion"]):
                raise errors.conflict(res, meta["name"])
            for kept in ("uid", "creationTimestamp", "generation"):
                if kept in current["metadata"]:
                    meta[kept] = current["metadata"][kept]
            if "generation" in meta and obj.get("spec") != current.get("spec"):
                meta["generation"] += 1
            obj.update(apiVersion=res.api_version, kind=res.kind)
            if _unversioned(obj) == _unversioned(current):
                return copy.deepcopy(current)  # a no-op write does not bump resourceVersion
            return self._commit(res, "MODIFIED", obj)

    def mutate(self, res, namespace, name, change):
        """Read-modify-write under the lock: `change(obj)` edits a copy in place."""
        with self.cond:
            obj = self.get(res, namespace, name)
            if obj is None:
                return None
            change(obj)
            return self.update(res, obj, check_version=False)

    def delete(self, res, namespace, name):
        with self.cond:
            obj = self.objects.get((res.plural, namespace or "", name))
            if obj is None:
                raise errors.not_found(res, name)
            return self._commit(res, "DELETED", copy.deepcopy(obj))

    # --- watches and persistence ---------------------------------------------------------

    def events_since(self, rv, plural, timeout):
        """([(type, object)] for `plural` after resourceVersion `rv`, the store's resourceVersion).

        Waits up to `timeout` for any write; 410 Gone when `rv` is older than the event log.
        """
        with self.cond:
            if self.log and rv < self.log[0][0] - 1:
                raise errors.ApiError(410, "Expired", f"too old resource version: {rv} ({self.log[0][0] - 1})")
            self.cond.wait_for(lambda: self.rv > rv, timeout)
            found = [(etype, copy.deepcopy(obj)) for erv, p, etype, obj in self.log if erv > rv and p == plural]
            return found, self.rv

    def wait_change(self, rv, timeout):
        with self.cond:
            self.cond.wait_for(lambda: self.rv > rv, timeout)
            return self.rv

    def save(self):
        """Write the objects to `path` (atomically) if anything changed since the last save."""
        with self.cond:
            if not self.path or not self.dirty:
                return
            data = json.dumps({"rv": self.rv, "objects": {"/".join(k): v for k, v in self.objects.items()}})
            self.dirty = False
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, self.path)
