# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployment, ReplicaSet and StatefulSet controllers and the owner-reference garbage collector.

Each pass reads everything and converges one step, like the real controllers: the
decisions (`rolling_targets`, `statefulset_step`) are pure functions of what exists.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
from collections import namedtuple

from . import admission, errors
from .events import Recorder
from .resources import BY_KIND, BY_PATH
from .store import now, random_suffix

PODS = BY_PATH[("", "pods")]
DEPLOYMENTS = BY_PATH[("apps", "deployments")]
REPLICASETS = BY_PATH[("apps", "replicasets")]
STATEFULSETS = BY_PATH[("apps", "statefulsets")]
REVISIONS = BY_PATH[("apps", "controllerrevisions")]
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
STS_REVISION_LABEL = "controller-revision-hash"

# A replica set as the rolling update sees it: desired count and pods available.
Rs = namedtuple("Rs", "replicas available")


# --- pure decisions ---------------------------------------------------------------------

def template_hash(template):
    """A stable short hash of a pod template (labels added by controllers excluded)."""
    data = json.dumps(strip_controller_labels(template), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:10]


def strip_controller_labels(template):
    template = copy.deepcopy(template)
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
        labels.pop(STS_REVISION_LABEL, None)
    return template


def resolve_fraction(value, total, round_up):
    """maxSurge / maxUnavailable: an int or a percentage of `total`."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def rolling_targets(replicas, max_surge, max_unavailable, new, olds):
    """One RollingUpdate step: (new replica count, [old replica counts]).

    The new set grows while the total stays within replicas + maxSurge; old sets
    shrink (unavailable pods first) while available pods stay at or above
    replicas - maxUnavailable.
    """
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    total = new.replicas + sum(o.replicas for o in olds)
    if new.replicas >= replicas:
        new_target = replicas
    else:
        new_target = min(replicas, new.replicas + max(0, replicas + max_surge - total))
    min_available = replicas - max_unavailable
    old_targets = [o.replicas for o in olds]
    budget = total - min_available - (new.replicas - new.available)
    for i, old in enumerate(olds):  # unavailable old pods cost nothing to remove
        cut = max(0, min(old.replicas - old.available, budget))
        old_targets[i] -= cut
        budget -= cut
    budget = new.available + sum(o.available for o in olds) - min_available
    for i in range(len(olds)):
        cut = max(0, min(old_targets[i], budget))
        old_targets[i] -= cut
        budget -= cut
    return new_target, old_targets


def recreate_targets(replicas, new, olds, old_pods):
    """Recreate: every old pod gone before the new set scales up."""
    if any(o.replicas for o in olds) or old_pods:
        return new.replicas if new.replicas <= replicas else replicas, [0] * len(olds)
    return replicas, [0] * len(olds)


def statefulset_step(replicas, pods, update_revision, partition=0):
    """The next OrderedReady action: ("create", ordinal) | ("delete", ordinal) | None.

    `pods` maps ordinal -> (ready, terminating, revision). Ordinals are created
    lowest first, each waiting for the previous to be ready; extra ordinals go
    highest first; a rolling update replaces the highest outdated ordinal.
    """
    for ordinal in range(replicas):
        if ordinal not in pods:
            return ("create", ordinal)
        ready, terminating, _revision = pods[ordinal]
        if terminating or not ready:
            return None
    if any(terminating for _ready, terminating, _rev in pods.values()):
        return None
    extra = sorted((o for o in pods if o >= replicas), reverse=True)
    if extra:
        return ("delete", extra[0])
    outdated = [o for o in range(partition, replicas) if pods[o][2] != update_revision]
    return ("delete", max(outdated)) if outdated else None


def pod_ready(pod):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def controlled_by(obj, owner):
    return any(ref.get("controller") and ref.get("uid") == owner["metadata"]["uid"]
               for ref in obj["metadata"].get("ownerReferences") or [])


def owner_reference(owner):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


# --- the control loop ---------------------------------------------------------------------

class Controllers(threading.Thread):
    def __init__(self, api):
        super().__init__(name="controllers", daemon=True)
        self.api, self.store = api, api.store
        self.events = Recorder(self.store, "controller-manager")
        self.stopped = threading.Event()

    def run(self):
        rv = -1
        while not self.stopped.is_set():
            rv = self.store.wait_change(rv, 1.0)
            try:
                self.reconcile_all()
            except errors.ApiError as err:  # a conflict with a concurrent writer: the next pass retries
                print(f"controllers: {err.message}", flush=True)
            time.sleep(0.2)

    def reconcile_all(self):
        for dep in self.store.list(DEPLOYMENTS)[0]:
            self.deployment(dep)
        for rs in self.store.list(REPLICASETS)[0]:
            self.replicaset(rs)
        for sts in self.store.list(STATEFULSETS)[0]:
            self.statefulset(sts)
        self.collect_garbage()

    def _owned(self, res, owner):
        return self.store.list(res, owner["metadata"]["namespace"], lambda obj: controlled_by(obj, owner))[0]

    def _create_pod(self, owner, template, name, extra_labels):
        meta = template.get("metadata", {})
        pod = {"metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                            "labels": {**(meta.get("labels") or {}), **extra_labels},
                            "annotations": dict(meta.get("annotations") or {}),
                            "ownerReferences": [owner_reference(owner)]},
               "spec": copy.deepcopy(template.get("spec", {}))}
        admission.apply_defaults(PODS, pod)
        created = self.store.create(PODS, pod)
        self.events.record(owner, "SuccessfulCreate", f"create Pod {name} in {owner['kind']} "
                                                      f"{owner['metadata']['name']} successful")
        return created

    def _delete_pod(self, owner, pod):
        self.api.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.events.record(owner, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in {owner['kind']} "
                                                      f"{owner['metadata']['name']} successful")

    # --- Deployment -> ReplicaSets ---------------------------------------------------------

    def deployment(self, dep):
        ns, spec = dep["metadata"]["namespace"], dep["spec"]
        sets = self._owned(REPLICASETS, dep)
        template = spec["template"]
        new = next((rs for rs in sets if strip_controller_labels(rs["spec"]["template"]) == template), None)
        top = max((int(rs["metadata"].get("annotations", {}).get(REVISION, 0)) for rs in sets), default=0)
        olds = sorted((rs for rs in sets if rs is not new),
                      key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION, 0)))
        cause = (dep["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
        if new is None:
            new = self._new_replicaset(dep, top + 1, cause, 0 if olds else spec["replicas"])
        elif int(new["metadata"]["annotations"].get(REVISION, 0)) < top:  # an undo: the old template is new again
            def bump(rs):
                rs["metadata"]["annotations"][REVISION] = str(top + 1)
                if cause:
                    rs["metadata"]["annotations"][CHANGE_CAUSE] = cause
            new = self.store.mutate(REPLICASETS, ns, new["metadata"]["name"], bump)
        if not spec.get("paused"):
            self._roll(dep, new, olds)
        self._cleanup_history(dep, [rs for rs in olds if rs["spec"]["replicas"] == 0])
        self._deployment_status(dep, new, olds)

    def _new_replicaset(self, dep, revision, cause, replicas):
        template = copy.deepcopy(dep["spec"]["template"])
        pod_hash = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        annotations = {REVISION: str(revision), **({CHANGE_CAUSE: cause} if cause else {})}
        rs = {"metadata": {"name": f"{dep['metadata']['name']}-{pod_hash}", "namespace": dep["metadata"]["namespace"],
                           "labels": dict(template["metadata"]["labels"]), "annotations": annotations,
                           "ownerReferences": [owner_reference(dep)]},
              "spec": {"replicas": replicas, "selector": selector, "template": template}}
        admission.apply_defaults(REPLICASETS, rs)
        created = self.store.create(REPLICASETS, rs)
        if replicas:
            self.events.record(dep, "ScalingReplicaSet",
                               f"Scaled up replica set {rs['metadata']['name']} from 0 to {replicas}")
        return created

    def _roll(self, dep, new, olds):
        spec = dep["spec"]
        state = [Rs(rs["spec"]["replicas"], rs.get("status", {}).get("availableReplicas", 0)) for rs in [new, *olds]]
        strategy = spec.get("strategy", {})
        if strategy.get("type") == "Recreate":
            old_pods = sum(rs.get("status", {}).get("replicas", 0) for rs in olds)
            new_target, old_targets = recreate_targets(spec["replicas"], state[0], state[1:], old_pods)
        else:
            rolling = strategy.get("rollingUpdate", {})
            new_target, old_targets = rolling_targets(
                spec["replicas"], resolve_fraction(rolling.get("maxSurge", "25%"), spec["replicas"], True),
                resolve_fraction(rolling.get("maxUnavailable", "25%"), spec["replicas"], False),
                state[0], state[1:])
        for rs, target in zip([new, *olds], [new_target, *old_targets]):
            if rs["spec"]["replicas"] != target:
                def scale(obj, target=target):
                    obj["spec"]["replicas"] = target
                self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], scale)
                verb = "up" if target > rs["spec"]["replicas"] else "down"
                self.events.record(dep, "ScalingReplicaSet", f"Scaled {verb} replica set {rs['metadata']['name']} "
                                                             f"from {rs['spec']['replicas']} to {target}")

    def _cleanup_history(self, dep, idle):
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        for rs in idle[:max(0, len(idle) - limit)]:
            if not rs.get("status", {}).get("replicas"):
                self.store.delete(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _deployment_status(self, dep, new, olds):
        sets = [new, *olds]
        replicas = dep["spec"]["replicas"]
        available, updated = _sum(sets, "availableReplicas"), _sum([new], "replicas")
        complete = updated == replicas and _sum(sets, "replicas") == replicas and available >= replicas
        status = {"observedGeneration": dep["metadata"]["generation"], "replicas": _sum(sets, "replicas"),
                  "updatedReplicas": updated, "readyReplicas": _sum(sets, "readyReplicas"),
                  "availableReplicas": available, "unavailableReplicas": max(0, replicas - available)}
        rolling = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
        min_available = replicas - resolve_fraction(rolling.get("maxUnavailable", 0), replicas, False)
        old_conditions = {c["type"]: c for c in dep.get("status", {}).get("conditions") or []}
        status["conditions"] = [
            _condition(old_conditions, "Available", available >= min_available,
                       "MinimumReplicasAvailable" if available >= min_available else "MinimumReplicasUnavailable",
                       "Deployment has minimum availability." if available >= min_available
                       else "Deployment does not have minimum availability."),
            _condition(old_conditions, "Progressing", True,
                       "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                       f'ReplicaSet "{new["metadata"]["name"]}" '
                       f'{"has successfully progressed" if complete else "is progressing"}.'),
        ]
        revision = new["metadata"]["annotations"].get(REVISION)

        def write(obj):
            obj["status"] = status
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
        self.store.mutate(DEPLOYMENTS, dep["metadata"]["namespace"], dep["metadata"]["name"], write)

    # --- ReplicaSet -> Pods ------------------------------------------------------------

    def replicaset(self, rs):
        pods = self._owned(PODS, rs)
        active = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        diff = rs["spec"]["replicas"] - len(active)
        owner_name = rs["metadata"]["name"]
        for _index in range(max(0, diff)):
            self._create_pod(rs, rs["spec"]["template"], f"{owner_name}-{random_suffix()}", {})
        # Scale down the least useful first: not ready, then the newest.
        newest_first = sorted(active, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)
        for pod in sorted(newest_first, key=pod_ready)[:max(0, -diff)]:
            self._delete_pod(rs, pod)
        active = [p for p in self._owned(PODS, rs) if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in active if pod_ready(p))
        status = {"replicas": len(active), "fullyLabeledReplicas": len(active), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]}

        def write(obj):
            obj["status"] = status
        self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], owner_name, write)

    # --- StatefulSet -> ControllerRevisions + Pods -----------------------------------------

    def statefulset(self, sts):
        ns, name, spec = sts["metadata"]["namespace"], sts["metadata"]["name"], sts["spec"]
        update = self._statefulset_revision(sts)
        pods = {}
        for pod in self._owned(PODS, sts):
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if ordinal.isdigit():
                pods[int(ordinal)] = pod
        summary = {o: (pod_ready(p), bool(p["metadata"].get("deletionTimestamp")),
                       p["metadata"]["labels"].get(STS_REVISION_LABEL)) for o, p in pods.items()}
        partition = spec.get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)
        action = statefulset_step(spec["replicas"], summary, update, partition)
        if action and action[0] == "create":
            ordinal = action[1]
            pod_name = f"{name}-{ordinal}"
            self._create_pod(sts, spec["template"], pod_name,
                             {STS_REVISION_LABEL: update, "statefulset.kubernetes.io/pod-name": pod_name,
                              "apps.kubernetes.io/pod-index": str(ordinal)})
        elif action:
            self._delete_pod(sts, pods[action[1]])
        active = {o: s for o, s in summary.items() if not s[1]}
        current = sts.get("status", {}).get("currentRevision") or update
        updated = sum(1 for s in active.values() if s[2] == update)
        ready = sum(1 for s in active.values() if s[0])
        if updated == spec["replicas"] == ready == len(active):
            current = update  # the rolling update is complete
        status = {"observedGeneration": sts["metadata"]["generation"], "replicas": len(active),
                  "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": updated,
                  "currentReplicas": sum(1 for s in active.values() if s[2] == current),
                  "currentRevision": current, "updateRevision": update, "collisionCount": 0}

        def write(obj):
            obj["status"] = status
        self.store.mutate(STATEFULSETS, ns, name, write)

    def _statefulset_revision(self, sts):
        """The ControllerRevision of the current template (created, or re-numbered on a rollback)."""
        template = strip_controller_labels(sts["spec"]["template"])
        name = f"{sts['metadata']['name']}-{template_hash(template)}"
        revisions = self._owned(REVISIONS, sts)
        top = max((r["revision"] for r in revisions), default=0)
        existing = next((r for r in revisions if r["metadata"]["name"] == name), None)
        if existing is None:
            self.store.create(REVISIONS, {
                "metadata": {"name": name, "namespace": sts["metadata"]["namespace"],
                             "labels": {**(template.get("metadata", {}).get("labels") or {}),
                                        STS_REVISION_LABEL: name},
                             "ownerReferences": [owner_reference(sts)]},
                # What `kubectl rollout undo` applies as a strategic merge patch.
                "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
                "revision": top + 1})
        elif existing["revision"] < top:
            def bump(rev):
                rev["revision"] = top + 1
            self.store.mutate(REVISIONS, existing["metadata"]["namespace"], name, bump)
        limit = sts["spec"].get("revisionHistoryLimit", 10)
        unused = sorted((r for r in revisions if r["metadata"]["name"] != name
                         and r["metadata"]["name"] != sts.get("status", {}).get("currentRevision")),
                        key=lambda r: r["revision"])
        for rev in unused[:max(0, len(unused) - limit)]:
            self.store.delete(REVISIONS, rev["metadata"]["namespace"], rev["metadata"]["name"])
        return name

    # --- garbage collection --------------------------------------------------------------

    def collect_garbage(self):
        """Delete objects whose controlling owner no longer exists (background propagation)."""
        for res in (PODS, REPLICASETS, REVISIONS):
            for obj in self.store.list(res)[0]:
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]
                if not refs or obj["metadata"].get("deletionTimestamp"):
                    continue
                owner = self.store.get(BY_KIND[refs[0]["kind"]], obj["metadata"]["namespace"], refs[0]["name"])
                if owner is None or owner["metadata"]["uid"] != refs[0]["uid"]:
                    try:
                        self.api.delete(res, obj["metadata"]["namespace"], obj["metadata"]["name"])
                    except errors.ApiError:
                        pass  # already gone


def _condition(old, kind, ok, reason, message):
    """A deployment condition that keeps its timestamps while nothing about it changes."""
    status = "True" if ok else "False"
    previous = old.get(kind, {})
    transition = previous.get("lastTransitionTime") if previous.get("status") == status else None
    updated = previous.get("lastUpdateTime") if previous.get("reason") == reason and transition else None
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": updated or now(), "lastTransitionTime": transition or now()}


def _sum(sets, field):
    return sum(rs.get("status", {}).get(field, 0) for rs in sets)
