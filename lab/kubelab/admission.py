# SPDX-License-Identifier: GPL-3.0-or-later
"""Defaults and validation applied to every write, as the real API server's admission does.

Defaults matter to clients: `kubectl rollout status` reads spec.updateStrategy, and
a rollout undo compares pod templates that must have been defaulted the same way.
"""
from __future__ import annotations

import re

from . import errors, selectors

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
WORKLOADS = ("deployments", "replicasets", "statefulsets")


PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


def default_pod_spec(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers") or []:
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
        probe = container.get("readinessProbe")
        if probe:
            for key, value in PROBE_DEFAULTS.items():
                probe.setdefault(key, value)
            if "httpGet" in probe:
                probe["httpGet"].setdefault("scheme", "HTTP")


def default_template(template):
    """Clients send `creationTimestamp: null` in templates; Go's decoder drops it, so do we."""
    meta = template.setdefault("metadata", {})
    for key in [k for k, v in meta.items() if v is None]:
        del meta[key]
    default_pod_spec(template.setdefault("spec", {}))


def apply_defaults(res, obj):
    spec = obj.get("spec")
    if res.plural == "pods" and spec is not None:
        default_pod_spec(spec)
        obj.setdefault("status", {"phase": "Pending"})
    if res.plural in WORKLOADS and spec is not None:
        spec.setdefault("replicas", 1)
        default_template(spec.setdefault("template", {}))
        obj.setdefault("status", {})
    if res.plural == "deployments" and spec is not None:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("maxSurge", "25%")
            strategy["rollingUpdate"].setdefault("maxUnavailable", "25%")
    if res.plural == "statefulsets" and spec is not None:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("serviceName", obj["metadata"]["name"])
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    if res.plural == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
    return obj


def validate(res, obj):
    """Raise 422 Invalid naming every bad field."""
    name = obj.get("metadata", {}).get("name") or ""
    causes = []
    if not _NAME_RE.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                                        "lower case alphanumeric characters, '-' or '.'"))
    spec = obj.get("spec") or {}
    if res.plural in WORKLOADS:
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
        template_labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
        selector = spec.get("selector")
        if not selector:
            causes.append(("spec.selector", "Required value"))
        elif not selectors.matches_labels(selectors.from_label_selector(selector), template_labels):
            causes.append(("spec.template.metadata.labels",
                           f"Invalid value: {template_labels}: `selector` does not match template `labels`"))
        causes += _pod_spec_causes("spec.template.spec", spec.get("template", {}).get("spec") or {})
    if res.plural == "pods":
        causes += _pod_spec_causes("spec", spec)
    if causes:
        raise errors.invalid(res, name, causes)


def _pod_spec_causes(path, spec):
    containers = spec.get("containers") or []
    if not containers:
        return [(f"{path}.containers", "Required value")]
    causes = []
    for i, container in enumerate(containers):
        for field in ("name", "image"):
            if not container.get(field):
                causes.append((f"{path}.containers[{i}].{field}", "Required value"))
    return causes
