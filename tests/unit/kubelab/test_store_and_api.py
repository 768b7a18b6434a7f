# SPDX-License-Identifier: GPL-3.0-or-later
"""API semantics without HTTP: resourceVersions, conflicts, validation, patches, scale, tables."""
from __future__ import annotations

import json

import pytest

from kubelab import errors, tables
from kubelab.api import NAMESPACES, Api, make_namespace
from kubelab.resources import BY_PATH, resource_list
from kubelab.store import Store

DEPLOYMENTS = BY_PATH[("apps", "deployments")]
CONFIGMAPS = BY_PATH[("", "configmaps")]
PODS = BY_PATH[("", "pods")]


def deployment(name="web", replicas=2):
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                                "template": {"metadata": {"labels": {"app": name}},
                                             "spec": {"containers": [{"name": "c", "image": "i"}]}}}}).encode()


@pytest.fixture
def api(tmp_path):
    store = Store(tmp_path / "objects.json")
    store.create(NAMESPACES, make_namespace("default"))
    return Api(store)


def test_create_defaults_and_versions(api):
    created = api.create(DEPLOYMENTS, "default", deployment())
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert created["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    with pytest.raises(errors.ApiError) as err:
        api.create(DEPLOYMENTS, "default", deployment())
    assert (err.value.code, err.value.reason) == (409, "AlreadyExists")


def test_a_stale_resource_version_is_a_conflict_and_a_no_op_is_not_a_write(api):
    created = api.create(DEPLOYMENTS, "default", deployment())
    same = api.replace(DEPLOYMENTS, "default", "web", json.dumps(created).encode())
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    changed = json.loads(json.dumps(created))
    changed["spec"]["replicas"] = 3
    updated = api.replace(DEPLOYMENTS, "default", "web", json.dumps(changed).encode())
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(errors.ApiError) as err:
        api.replace(DEPLOYMENTS, "default", "web", json.dumps(changed).encode())  # still the old version
    assert (err.value.code, err.value.reason) == (409, "Conflict")
    assert err.value.status()["kind"] == "Status"


def test_negative_replicas_are_invalid_everywhere(api):
    with pytest.raises(errors.ApiError) as err:
        api.create(DEPLOYMENTS, "default", deployment(replicas=-1))
    assert err.value.code == 422 and err.value.details["causes"][0]["field"] == "spec.replicas"
    api.create(DEPLOYMENTS, "default", deployment())
    with pytest.raises(errors.ApiError) as err:
        api.patch_scale(DEPLOYMENTS, "default", "web", "application/merge-patch+json", b'{"spec":{"replicas":-2}}')
    assert err.value.code == 422


def test_unknown_namespace_and_object_are_404(api):
    with pytest.raises(errors.ApiError) as err:
        api.create(DEPLOYMENTS, "nowhere", deployment())
    assert err.value.code == 404 and err.value.message == 'namespaces "nowhere" not found'
    with pytest.raises(errors.ApiError) as err:
        api.get(DEPLOYMENTS, "default", "nope")
    assert err.value.status()["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_patch_types_and_scale_subresource(api):
    api.create(CONFIGMAPS, "default", b'{"metadata": {"name": "cfg"}, "data": {"A": "1", "B": "2"}}')
    merged = api.patch(CONFIGMAPS, "default", "cfg", "application/merge-patch+json", b'{"data": {"B": null}}')
    assert merged["data"] == {"A": "1"}
    strategic = api.patch(CONFIGMAPS, "default", "cfg", "application/strategic-merge-patch+json",
                          b'{"data": {"C": "3"}}')
    assert strategic["data"] == {"A": "1", "C": "3"}
    ops = api.patch(CONFIGMAPS, "default", "cfg", "application/json-patch+json",
                    b'[{"op": "replace", "path": "/data/A", "value": "9"}]')
    assert ops["data"]["A"] == "9"
    with pytest.raises(errors.ApiError) as err:
        api.patch(CONFIGMAPS, "default", "cfg", "application/apply-patch+yaml", b"{}")
    assert err.value.code == 415
    api.create(DEPLOYMENTS, "default", deployment())
    scale = api.patch_scale(DEPLOYMENTS, "default", "web", "application/merge-patch+json", b'{"spec":{"replicas":5}}')
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5 and scale["status"]["selector"] == "app=web"
    assert api.get(DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 5


def test_status_is_not_writable_through_the_main_resource(api):
    created = api.create(DEPLOYMENTS, "default", deployment())
    api.write_status(DEPLOYMENTS, "default", "web", {"readyReplicas": 2})
    created["status"] = {"readyReplicas": 99}
    created["metadata"].pop("resourceVersion")
    assert api.replace(DEPLOYMENTS, "default", "web", json.dumps(created).encode())["status"] == {"readyReplicas": 2}


def test_selectors_on_list(api):
    for name in ("a", "b"):
        api.create(CONFIGMAPS, "default", json.dumps({"metadata": {"name": name, "labels": {"n": name}}}).encode())
    assert [o["metadata"]["name"] for o in api.list(CONFIGMAPS, "default", "n in (b,c)")[0]] == ["b"]
    assert [o["metadata"]["name"] for o in api.list(CONFIGMAPS, None, "", "metadata.name!=b")[0]] == ["a"]


def test_state_survives_a_restart(api, tmp_path):
    api.create(DEPLOYMENTS, "default", deployment())
    api.store.save()
    again = Store(tmp_path / "objects.json")
    assert again.get(DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 2
    assert again.rv == api.store.rv


def test_watch_events_and_expired_versions(api):
    start = api.store.rv
    api.create(CONFIGMAPS, "default", b'{"metadata": {"name": "w"}}')
    api.delete(CONFIGMAPS, "default", "w")
    events, rv = api.store.events_since(start, "configmaps", 0)
    assert [e[0] for e in events] == ["ADDED", "DELETED"] and rv == start + 2
    assert api.store.events_since(rv, "configmaps", 0.01) == ([], rv)


def test_pending_pods_are_deleted_at_once_running_ones_gracefully(api):
    pod = b'{"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}'
    api.create(PODS, "default", pod)
    api.delete(PODS, "default", "p")
    assert api.store.get(PODS, "default", "p") is None
    api.create(PODS, "default", pod)
    api.write_status(PODS, "default", "p", {"phase": "Running"})
    marked = api.delete(PODS, "default", "p")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30 and marked["metadata"]["deletionTimestamp"]
    api.delete(PODS, "default", "p", grace_period=0)
    assert api.store.get(PODS, "default", "p") is None


def test_discovery_lists_verbs_short_names_and_subresources():
    apps = {r["name"]: r for r in resource_list("apps")["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"] and "patch" in apps["deployments"]["verbs"]
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    assert "statefulsets/scale" in apps
    assert "pods/log" in {r["name"] for r in resource_list("")["resources"]}


def test_pod_table_has_kubectl_columns():
    pod = {"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
           "spec": {"containers": [{"name": "c"}, {"name": "d"}]},
           "status": {"phase": "Running", "podIP": "127.0.4.1", "containerStatuses": [
               {"ready": True, "restartCount": 2, "state": {"running": {}}},
               {"ready": False, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    table = tables.table(PODS, [pod], "7")
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    assert table["rows"][0]["cells"][:4] == ["p", "1/2", "CrashLoopBackOff", 3]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
