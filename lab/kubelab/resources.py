# SPDX-License-Identifier: GPL-3.0-or-later
"""The resource types the lab serves and the discovery documents that describe them."""
from __future__ import annotations

from dataclasses import dataclass

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-chainops-lab", "gitCommit": "lab",
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23",
           "compiler": "gc", "platform": "linux/amd64"}
ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str = ""          # "" is the core group
    namespaced: bool = True
    short_names: tuple = ()
    subresources: tuple = ()  # ("status", "scale", "log")
    has_status: bool = False  # a status the main endpoint does not let clients write

    @property
    def api_version(self):
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self):
        """`deployments.apps`, as error messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = (
    Resource("namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",),
             has_status=True),
    Resource("pods", "Pod", short_names=("po",), subresources=("status", "log"), has_status=True),
    Resource("configmaps", "ConfigMap", short_names=("cm",)),
    Resource("events", "Event", short_names=("ev",)),
    Resource("deployments", "Deployment", "apps", short_names=("deploy",), subresources=("status", "scale"),
             has_status=True),
    Resource("replicasets", "ReplicaSet", "apps", short_names=("rs",), subresources=("status", "scale"),
             has_status=True),
    Resource("statefulsets", "StatefulSet", "apps", short_names=("sts",), subresources=("status", "scale"),
             has_status=True),
    Resource("controllerrevisions", "ControllerRevision", "apps"),
)
BY_PATH = {(r.group, r.plural): r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
SUBRESOURCE_KINDS = {"scale": ("Scale", "autoscaling", "v1")}


def resource_list(group):
    """APIResourceList for `/api/v1` ("") or `/apis/apps/v1` ("apps")."""
    entries = []
    for res in (r for r in RESOURCES if r.group == group):
        entries.append({"name": res.plural, "singularName": res.kind.lower(), "namespaced": res.namespaced,
                        "kind": res.kind, "verbs": ALL_VERBS, "shortNames": list(res.short_names),
                        "categories": ["all"] if res.plural in ("pods", "deployments", "replicasets",
                                                                "statefulsets") else []})
        for sub in res.subresources:
            kind, sub_group, sub_version = SUBRESOURCE_KINDS.get(sub, (res.kind, None, None))
            entry = {"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced,
                     "kind": kind, "verbs": ["get"] if sub == "log" else ["get", "patch", "update"]}
            if sub_group:
                entry.update(group=sub_group, version=sub_version)
            entries.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/v1" if group else "v1",
            "resources": entries}


def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}


def api_group_list():
    version = {"groupVersion": "apps/v1", "version": "v1"}
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "apps", "versions": [version], "preferredVersion": version}]}


def api_group(name):
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [version],
            "preferredVersion": version}


def openapi_v3_root():
    """The OpenAPI v3 index: one document per group version."""
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash=chainops-lab"}
                      for path in ("api/v1", "apis/apps/v1")}}


def openapi_v3(group):
    """Just enough OpenAPI for kubectl to see that PATCH takes `fieldValidation`.

    With that, `kubectl apply` leaves validation to the server instead of
    downloading schemas first; the lab's server validates what it implements.
    """
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    paths = {}
    for res in (r for r in RESOURCES if r.group == group):
        path = f"{prefix}/namespaces/{{namespace}}/{res.plural}/{{name}}" if res.namespaced \
            else f"{prefix}/{res.plural}/{{name}}"
        paths[path] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": res.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "chainops-lab", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
