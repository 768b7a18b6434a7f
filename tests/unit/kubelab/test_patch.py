# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab API's patch formats: RFC 7386, RFC 6902 and Kubernetes' strategic merge patch,
including the exact bodies kubectl sends for the commands the runbooks use."""
from __future__ import annotations

import copy

import pytest

from kubelab.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch


def deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d-1",
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.24",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]},
                        {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "3600"]},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "web-cfg"}}],
                },
            },
        },
    }


def containers(obj):
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def smp(doc, patch):
    """strategic_merge_patch, also checking that neither argument is touched."""
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = strategic_merge_patch(doc, patch)
    assert doc == doc_before and patch == patch_before
    return result


# --- RFC 7386 -------------------------------------------------------------------------------

@pytest.mark.parametrize("target, patch, expected", [  # RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_json_merge_patch_rfc_examples(target, patch, expected):
    assert json_merge_patch(target, patch) == expected


def test_kubectl_scale_is_a_merge_patch_of_spec_replicas():
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
             "spec": {"replicas": 2}, "status": {"replicas": 2, "selector": "app=web"}}
    assert json_merge_patch(scale, {"spec": {"replicas": 5}})["spec"] == {"replicas": 5}
    scaled = json_merge_patch(deployment(), {"spec": {"replicas": 0}})
    assert scaled["spec"]["replicas"] == 0 and scaled["spec"]["template"] == deployment()["spec"]["template"]


def test_json_merge_patch_replaces_lists_and_leaves_its_inputs_alone():
    doc, patch = deployment(), {"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}}
    result = json_merge_patch(doc, patch)
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "only"}]
    assert doc == deployment()
    result["spec"]["template"]["spec"]["containers"][0]["image"] = "x"
    result["metadata"]["annotations"]["new"] = "y"
    assert patch == {"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}} and doc == deployment()


@pytest.mark.parametrize("doc, patch", [({"a": 1}, None), ({"a": 1}, [1]), ([], {"a": 1})])
def test_json_merge_patch_needs_objects(doc, patch):
    with pytest.raises(PatchError, match="JSON objects"):
        json_merge_patch(doc, patch)


# --- RFC 6902 -------------------------------------------------------------------------------

@pytest.mark.parametrize("doc, ops, expected", [  # RFC 6902 appendix A, in substance
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"foo": "bar", "baz": "qux"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc"]}], {"foo": ["bar", ["abc"]]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/1", "value": "end"}], {"foo": ["bar", "end"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
    ({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2.0}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": ["a", "b"]}, [{"op": "replace", "path": "/foo/0", "value": "z"}], {"foo": ["z", "b"]}),
    ({"m": {"k": [1, {"x": True}]}}, [{"op": "test", "path": "/m", "value": {"k": [1.0, {"x": True}]}}],
     {"m": {"k": [1, {"x": True}]}}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}, {"op": "remove", "path": "/~1"}], {"~1": 10}),
    ({"a": None}, [{"op": "test", "path": "/a", "value": None}, {"op": "add", "path": "", "value": {"b": 2}}],
     {"b": 2}),
])
def test_json_patch_rfc_examples(doc, ops, expected):
    assert json_patch(doc, ops) == expected


def test_json_patch_escapes_slashes_in_annotation_keys():
    ops = [{"op": "add", "path": "/metadata/annotations/kubectl.kubernetes.io~1restartedAt", "value": "now"},
           {"op": "add", "path": "/metadata/annotations/tilde~0key", "value": "t"}]
    annotations = json_patch(deployment(), ops)["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == "now" and annotations["tilde~key"] == "t"


def test_kubectl_rollout_undo_deployment_is_a_json_patch_of_template_and_annotations():
    previous = copy.deepcopy(deployment()["spec"]["template"])
    previous["spec"]["containers"][0]["image"] = "nginx:1.23"
    previous["metadata"]["labels"]["pod-template-hash"] = "abc"  # kubectl strips it; harmless here
    annotations = {"deployment.kubernetes.io/revision": "3"}
    ops = [{"op": "replace", "path": "/spec/template", "value": previous},
           {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
    doc = deployment()
    result = json_patch(doc, ops)
    assert result["spec"]["template"] == previous and result["metadata"]["annotations"] == annotations
    assert result["spec"]["replicas"] == 2 and doc == deployment()
    previous["spec"]["containers"][0]["image"] = "mutated"  # the result does not alias the patch
    assert containers(result)["app"]["image"] == "nginx:1.23"


@pytest.mark.parametrize("ops, message", [
    ([{"op": "test", "path": "/spec/replicas", "value": 3}], r"operation 0 \(test\): /spec/replicas: test failed"),
    ([{"op": "test", "path": "/spec/replicas", "value": "2"}], "test failed"),
    ([{"op": "test", "path": "/spec/selector", "value": {"matchLabels": {"app": 1}}}], "test failed"),
    ([{"op": "add", "path": "/x", "value": True}, {"op": "test", "path": "/x", "value": 1}],
     r"operation 1 \(test\).*test failed"),
    ([{"op": "remove", "path": "/spec/nope"}], "/spec/nope: path not found"),
    ([{"op": "replace", "path": "/metadata/labels", "value": {}}], "/metadata/labels: path not found"),
    ([{"op": "add", "path": "/spec/missing/child", "value": 1}], "/spec/missing/child: path not found"),
    ([{"op": "add", "path": "/spec/replicas/x", "value": 1}], "neither an object nor an array"),
    ([{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}], "index 5 is out of range"),
    ([{"op": "remove", "path": "/spec/template/spec/containers/-"}], "'-' is not an array index"),
    ([{"op": "remove", "path": "/spec/template/spec/containers/01"}], "'01' is not an array index"),
    ([{"op": "copy", "from": "/nope", "path": "/x"}], "/nope: path not found"),
    ([{"op": "move", "from": "/spec", "path": "/spec/inner"}], "into its own child"),
    ([{"op": "remove", "path": ""}], "whole document"),
    ([{"op": "replace", "path": "", "value": [1]}], "must be a JSON object"),
    ([{"op": "add", "path": "/x"}], "needs a member 'value'"),
    ([{"op": "add", "path": "x", "value": 1}], "'path' must be a JSON pointer"),
    ([{"op": "add", "path": "/a~2b", "value": 1}], "must be escaped"),
    ([{"op": "move", "path": "/x"}], "'from' must be a JSON pointer"),
    ([{"op": "increment", "path": "/spec/replicas"}], "unknown operation 'increment'"),
    ([{"path": "/x"}], "needs a string member 'op'"),
    ({"op": "add"}, "JSON array of operations"),
])
def test_json_patch_errors_name_the_operation_path_and_reason(ops, message):
    doc = deployment()
    with pytest.raises(PatchError, match=message):
        json_patch(doc, ops)
    assert doc == deployment()


def test_json_patch_needs_an_object_document():
    with pytest.raises(PatchError, match="document must be a JSON object"):
        json_patch([1], [])


# --- Strategic merge patch: the bodies kubectl sends -----------------------------------------

def test_kubectl_rollout_restart_adds_the_restarted_at_annotation():
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}
    result = smp(deployment(), patch)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}
    again = smp(result, {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-05-02T10:00:00Z"}}}}})
    assert again["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2024-05-02T10:00:00Z"}
    assert again["spec"]["template"]["spec"] == deployment()["spec"]["template"]["spec"]


def test_kubectl_set_env_adds_a_variable_in_order():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app",
                        "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "FOO"}],
                        "env": [{"name": "FOO", "value": "bar"}]}]}}}}
    result = smp(deployment(), patch)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["app", "sidecar"]
    app = containers(result)["app"]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "FOO", "value": "bar"}]
    assert app["image"] == "nginx:1.24" and app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert containers(result)["sidecar"] == containers(deployment())["sidecar"]


def test_kubectl_set_env_changes_a_value_in_place():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app", "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                        "env": [{"name": "A", "value": "changed"}]}]}}}}
    assert containers(smp(deployment(), patch))["app"]["env"] == [
        {"name": "A", "value": "changed"}, {"name": "B", "value": "2"}]


def test_kubectl_set_env_removes_a_variable():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app", "$setElementOrder/env": [{"name": "B"}],
                        "env": [{"$patch": "delete", "name": "A"}]}]}}}}
    assert containers(smp(deployment(), patch))["app"]["env"] == [{"name": "B", "value": "2"}]
    # Removing the last variable empties the list, which kubectl sends as a null.
    last = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app", "env": None}]}}}}
    assert "env" not in containers(smp(deployment(), last))["app"]


def test_kubectl_set_image_changes_one_container():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.25", "name": "app"}]}}}}
    result = smp(deployment(), patch)
    assert containers(result)["app"]["image"] == "nginx:1.25"
    assert containers(result)["app"]["env"] == containers(deployment())["app"]["env"]
    assert containers(result)["sidecar"]["image"] == "busybox:1.36"


def test_kubectl_rollout_undo_statefulset_replaces_the_template():
    sts = deployment()
    sts["kind"] = "StatefulSet"
    sts["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "today"}
    revision = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.23"}]}}
    result = smp(sts, {"spec": {"template": {**revision, "$patch": "replace"}}})
    assert result["spec"]["template"] == revision  # the annotation and sidecar are gone, not merged
    assert result["spec"]["replicas"] == 2 and result["spec"]["selector"] == sts["spec"]["selector"]


# --- Strategic merge patch: merge keys -------------------------------------------------------

@pytest.mark.parametrize("field, key", [
    ("containers", "name"), ("initContainers", "name"), ("ephemeralContainers", "name"),
    ("env", "name"), ("volumes", "name"), ("imagePullSecrets", "name"),
    ("volumeMounts", "mountPath"), ("ports", "containerPort"),
    ("ownerReferences", "uid"), ("conditions", "type"),
])
def test_lists_with_a_merge_key_merge_item_by_item(field, key):
    doc = {"outer": {field: [{key: "a", "x": 1}, {key: "b", "x": 2, "y": 9}]}}
    patch = {"outer": {field: [{key: "b", "x": 3}, {key: "c", "x": 4}]}}
    assert smp(doc, patch)["outer"][field] == [{key: "a", "x": 1}, {key: "b", "x": 3, "y": 9}, {key: "c", "x": 4}]


def test_merge_keys_apply_by_field_name_at_any_depth():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "volumeMounts": [{"mountPath": "/data", "name": "data"}],
         "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}]}]}}}}
    app = containers(smp(deployment(), patch))["app"]
    assert app["volumeMounts"] == [{"name": "cfg", "mountPath": "/etc/app"}, {"mountPath": "/data", "name": "data"}]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}]


def test_pod_status_conditions_merge_by_type():
    pod = {"kind": "Pod", "status": {"conditions": [{"type": "Ready", "status": "False"},
                                                    {"type": "PodScheduled", "status": "True"}]}}
    result = smp(pod, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                              {"type": "PodScheduled", "status": "True"}]


def test_owner_references_merge_by_uid():
    rs = {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "Deployment", "name": "web"}]}}
    result = smp(rs, {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}, {"uid": "u2"}]}})
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "Deployment", "name": "web", "controller": True}, {"uid": "u2"}]


@pytest.mark.parametrize("field, old, new", [
    ("tolerations", [{"key": "a", "operator": "Exists"}], [{"key": "b", "operator": "Exists"}]),
    ("envFrom", [{"configMapRef": {"name": "a"}}], [{"secretRef": {"name": "b"}}]),
    ("args", ["sleep", "3600"], ["sleep", "60"]),
    ("command", ["/bin/sh", "-c"], ["/bin/true"]),
    ("matchExpressions", [{"key": "a"}], [{"key": "b"}]),
])
def test_lists_without_a_merge_key_are_replaced(field, old, new):
    assert smp({"c": {field: old, "keep": 1}}, {"c": {field: new}}) == {"c": {field: new, "keep": 1}}


def test_finalizers_merge_as_a_set():
    doc = {"metadata": {"finalizers": ["a", "b"]}}
    assert smp(doc, {"metadata": {"finalizers": ["b", "c", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]


def test_a_new_merging_list_is_merged_onto_nothing():
    patch = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "$patch": "delete"}]}}
    result = smp({"spec": {}}, patch)
    assert result == {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}


# --- Strategic merge patch: directives -------------------------------------------------------

def test_null_deletes_a_key_and_unknown_keys_are_added():
    result = smp(deployment(), {"metadata": {"annotations": None, "labels": {"team": "ops"}},
                                "spec": {"strategy": {"rollingUpdate": {"maxSurge": None}}}})
    assert "annotations" not in result["metadata"] and result["metadata"]["labels"] == {"team": "ops"}
    assert result["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%"}


def test_patch_replace_in_a_map_takes_it_literally():
    result = smp(deployment(), {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_patch_replace_in_a_map_drops_nested_directives_and_nulls():
    patch = {"spec": {"template": {"$patch": "replace", "metadata": {"labels": None},
                                   "spec": {"containers": [{"name": "a", "image": "x", "$patch": "merge"}]}}}}
    assert smp(deployment(), patch)["spec"]["template"] == {"metadata": {}, "spec": {"containers": [
        {"name": "a", "image": "x"}]}}


def test_patch_delete_in_a_map_removes_it():
    result = smp(deployment(), {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}, "type": "Recreate"}}})
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert smp(deployment(), {"$patch": "delete"}) == {}


def test_patch_merge_is_the_default_made_explicit():
    patch = {"spec": {"strategy": {"$patch": "merge", "type": "Recreate"},
                      "template": {"spec": {"containers": [{"name": "app", "$patch": "merge", "image": "x"}]}}}}
    result = smp(deployment(), patch)
    assert result["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert containers(result)["app"]["image"] == "x" and "$patch" not in containers(result)["app"]
    assert containers(result)["app"]["env"] == containers(deployment())["app"]["env"]


def test_patch_replace_item_replaces_the_whole_list():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "solo", "image": "alpine"}, {"name": "app", "$patch": "delete"}, {"$patch": "replace"}]}}}}
    assert smp(deployment(), patch)["spec"]["template"]["spec"]["containers"] == [{"name": "solo", "image": "alpine"}]


def test_patch_delete_item_removes_every_match():
    doc = {"env": [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "dup"}]}
    assert smp(doc, {"env": [{"name": "A", "$patch": "delete"}, {"name": "Z", "$patch": "delete"}]}) == {
        "env": [{"name": "B"}]}


def test_retain_keys_clears_the_other_members_of_a_union():
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}
    volume = {"spec": {"volumes": [{"name": "cfg", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}]}}
    assert smp({"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}}]}}, volume) == {
        "spec": {"volumes": [{"name": "cfg", "emptyDir": {}}]}}


def test_set_element_order_reorders_without_changing_items():
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}}}
    result = smp(deployment(), patch)
    assert result["spec"]["template"]["spec"]["containers"] == list(reversed(
        deployment()["spec"]["template"]["spec"]["containers"]))


def test_set_element_order_interleaves_server_only_items_like_the_api_server():
    # The design proposal's env example: the server added ENV5 and ENV4 and reordered.
    doc = {"env": [{"name": n} for n in ("ENV2", "ENV5", "ENV1", "ENV3", "ENV4")]}
    patch = {"$setElementOrder/env": [{"name": "ENV1"}, {"name": "ENV2"}, {"name": "ENV6"}],
             "env": [{"name": "ENV3", "$patch": "delete"}, {"name": "ENV6", "value": "new"}]}
    # apimachinery's mergeSortedSlice puts a server-only item before the first patch item that
    # followed it on the server (ENV5 before ENV1), and the rest last (ENV4).
    assert [e["name"] for e in smp(doc, patch)["env"]] == ["ENV5", "ENV1", "ENV2", "ENV6", "ENV4"]


def test_without_set_element_order_the_patch_list_orders_its_items():
    doc = {"env": [{"name": "B"}, {"name": "C"}, {"name": "A"}]}
    patch = {"env": [{"name": "A", "v": 1}, {"name": "B", "v": 2}, {"name": "D"}]}
    # C preceded A on the server, so it still does (the design proposal's own example).
    assert [e["name"] for e in smp(doc, patch)["env"]] == ["C", "A", "B", "D"]


def test_set_element_order_and_delete_from_primitive_list_on_finalizers():
    doc = {"metadata": {"finalizers": ["b", "e", "a", "c", "d"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["a", "b", "f"],
                          "$deleteFromPrimitiveList/finalizers": ["c"], "finalizers": ["f"]}}
    # e came before a on the server, so it stays before it; d came after all of them.
    assert smp(doc, patch)["metadata"]["finalizers"] == ["e", "a", "b", "f", "d"]


def test_delete_from_primitive_list_alone():
    doc = {"metadata": {"finalizers": ["a", "b", "c", "b"]}}
    assert smp(doc, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}) == {
        "metadata": {"finalizers": ["a", "c"]}}
    assert smp({}, {"$deleteFromPrimitiveList/finalizers": ["x"]}) == {}


# --- Strategic merge patch: errors -----------------------------------------------------------

@pytest.mark.parametrize("patch, message", [
    ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
     "/spec/template/spec/containers: every item must be an object with the merge key 'name'"),
    ({"spec": {"template": {"spec": {"containers": ["app"]}}}}, "merge key 'name'"),
    ({"env": [{"$patch": "delete"}]}, "/env: every item must be an object with the merge key 'name'"),
    ({"spec": {"strategy": {"$patch": "explode"}}}, "/spec/strategy: unknown \\$patch directive 'explode'"),
    ({"env": [{"name": "A", "$patch": "explode"}]}, r"/env\[name='A'\]: unknown \$patch directive"),
    ({"spec": {"$frobnicate": 1}}, r"/spec/\$frobnicate: unknown directive"),
    ({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}},
     r"/spec/strategy: \['rollingUpdate'\] set by the patch but missing from \$retainKeys"),
    ({"spec": {"strategy": {"$retainKeys": "type"}}}, r"\$retainKeys must be a list"),
    ({"$setElementOrder/env": [{"name": "B"}, {"name": "A"}], "env": [{"name": "A"}, {"name": "B"}]},
     r"/env: items \['A', 'B'\] do not follow \$setElementOrder \['B', 'A'\]"),
    ({"$setElementOrder/env": [{"name": "A"}], "env": [{"name": "C"}]}, "do not follow"),
    ({"$setElementOrder/env": ["A"]}, "every \\$setElementOrder item needs the merge key 'name'"),
    ({"$setElementOrder/env": {"name": "A"}, "env": []}, r"\$setElementOrder must be a list"),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "/metadata/finalizers: \\$deleteFromPrimitive"),
])
def test_strategic_merge_patch_errors_name_path_and_reason(patch, message):
    doc = deployment()
    doc["env"] = [{"name": "A"}, {"name": "B"}]
    with pytest.raises(PatchError, match=message):
        strategic_merge_patch(doc, patch)


@pytest.mark.parametrize("doc, patch", [({}, None), ({}, [{"a": 1}]), (None, {})])
def test_strategic_merge_patch_needs_objects(doc, patch):
    with pytest.raises(PatchError, match="JSON objects"):
        strategic_merge_patch(doc, patch)


def test_strategic_merge_patch_result_shares_nothing_with_its_inputs():
    doc, patch = deployment(), {"spec": {"template": {"spec": {"tolerations": [{"key": "k"}]}}}}
    result = strategic_merge_patch(doc, patch)
    result["spec"]["template"]["spec"]["tolerations"][0]["key"] = "changed"
    containers(result)["app"]["env"].append({"name": "X"})
    assert patch == {"spec": {"template": {"spec": {"tolerations": [{"key": "k"}]}}}} and doc == deployment()
