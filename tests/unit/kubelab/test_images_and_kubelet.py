# SPDX-License-Identifier: GPL-3.0-or-later
"""The image table, container environments, pod addresses and cgroup limit files."""
from __future__ import annotations

import pytest

from kubelab import cgroups, images, kubelet

POD = {"metadata": {"name": "backend-abc12", "namespace": "default", "uid": "u-1",
                    "annotations": {kubelet.IP_POOL: "127.0.4.1-127.0.4.3"}}}


def test_image_table_maps_lab_images_to_local_programs():
    image, tag = images.resolve("chainops/bitcell-node:lab")
    assert tag == "lab" and image.entrypoint[0].endswith("lab/bin/bitcell-node") and image.cmd == ("run",)
    image, tag = images.resolve("chainops/blockchain-backend:v2")
    assert tag == "v2" and image.entrypoint[1:] == ("-m", "kubelab.apps.webapp")
    assert images.resolve("chainops/coordinator:lab")[0].cmd == ("--name", "coordinator")


@pytest.mark.parametrize("reference", ["chainops/blockchain-backend:nope", "nginx:latest", "chainops/unknown"])
def test_unknown_images_or_tags_fail_to_pull(reference):
    with pytest.raises(images.ImageError, match="not in the lab image table"):
        images.resolve(reference)


def test_command_replaces_the_entrypoint_and_args_the_default_command():
    image = images.Image(entrypoint=("/bin/app",), cmd=("serve",))
    assert images.argv(image, None, None, {}) == ["/bin/app", "serve"]
    assert images.argv(image, None, ["check"], {}) == ["/bin/app", "check"]
    assert images.argv(image, None, [], {}) == ["/bin/app"]
    assert images.argv(image, ["sh", "-c"], ["echo $(NAME)"], {"NAME": "x"}) == ["sh", "-c", "echo x"]


def test_variable_expansion_is_kubernetes_style():
    assert images.expand("$(A)/$(B)/$$(A)/$(MISSING)", {"A": "1", "B": "2"}) == "1/2/$(A)/$(MISSING)"


def test_container_env_precedence_and_references():
    configmaps = {"app-config": {"MODE": "cm", "FLAG": "on"}}
    container = {"envFrom": [{"configMapRef": {"name": "app-config"}}],
                 "env": [{"name": "MODE", "value": "env-wins"},
                         {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                         {"name": "DIR", "value": "/data/$(ME)"},
                         {"name": "ONE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "FLAG"}}}]}
    env = kubelet.container_env(POD, container, configmaps.get, {"POD_IP": "127.0.4.1", "MODE": "injected"},
                                {"PATH": "/bin", "MODE": "image"})
    assert env["MODE"] == "env-wins" and env["FLAG"] == "on" and env["ONE"] == "on"
    assert env["ME"] == "backend-abc12" and env["DIR"] == "/data/backend-abc12" and env["PATH"] == "/bin"


@pytest.mark.parametrize("container, message", [
    ({"envFrom": [{"configMapRef": {"name": "gone"}}]}, 'configmap "gone" not found'),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "NOPE"}}}]},
     "couldn't find key NOPE"),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, "only configMapKeyRef"),
])
def test_container_env_errors_are_create_container_config_errors(container, message):
    with pytest.raises(kubelet.ConfigError, match=message):
        kubelet.container_env(POD, container, {"app-config": {"A": "1"}}.get, {})


def test_optional_references_may_be_missing():
    container = {"envFrom": [{"configMapRef": {"name": "gone", "optional": True}}],
                 "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k",
                                                                         "optional": True}}}]}
    assert kubelet.container_env(POD, container, {}.get, {}) == {}


def test_pod_addresses_come_from_the_pool():
    assert kubelet.ip_pool("127.0.4.1-127.0.4.3") == ["127.0.4.1", "127.0.4.2", "127.0.4.3"]
    assert kubelet.choose_ip(POD, {"127.0.4.1"}) == "127.0.4.2"
    ordinal = {"metadata": {**POD["metadata"], "labels": {"apps.kubernetes.io/pod-index": "2"}}}
    assert kubelet.choose_ip(ordinal, {"127.0.4.3"}) == "127.0.4.3", "a StatefulSet ordinal keeps its address"
    assert kubelet.choose_ip({"metadata": {"name": "p"}}, set()) == "127.0.0.1"
    with pytest.raises(kubelet.ConfigError, match="exhausted"):
        kubelet.choose_ip(POD, {"127.0.4.1", "127.0.4.2", "127.0.4.3"})


def test_crash_backoff_doubles_up_to_a_cap():
    assert [kubelet.backoff(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, kubelet.MAX_BACKOFF]


@pytest.mark.parametrize("quantity, cores", [("500m", 0.5), ("1", 1.0), ("0.25", 0.25), ("2", 2.0)])
def test_cpu_quantities(quantity, cores):
    assert cgroups.cpu_cores(quantity) == cores


@pytest.mark.parametrize("quantity, size", [("256Mi", 256 * 2**20), ("1G", 10**9), ("1048576", 2**20),
                                            ("1.5Gi", int(1.5 * 2**30))])
def test_memory_quantities(quantity, size):
    assert cgroups.memory_bytes(quantity) == size


def test_limit_files_for_both_cgroup_versions():
    assert cgroups.limit_files(2, 0.5, 128 * 2**20) == {
        ("", "cpu.max"): "50000 100000", ("", "memory.max"): str(128 * 2**20)}
    assert cgroups.limit_files(1, 0.1, None) == {
        ("cpu", "cpu.cfs_period_us"): "100000", ("cpu", "cpu.cfs_quota_us"): "10000"}
    assert cgroups.limit_files(1, None, 2**20) == {("memory", "memory.limit_in_bytes"): str(2**20)}


def test_cgroup_limits_report_why_nothing_was_applied(tmp_path):
    group = cgroups.PodCgroup("ns_pod_1", {"cpu": "500m"}, root=tmp_path)
    assert group.applied == "not applied: no cgroup v1 or v2 hierarchy"
    assert cgroups.PodCgroup("ns_pod_1", {}, root=tmp_path).applied == "none"


def test_cgroup_v2_limits_are_written_into_a_pod_directory(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    group = cgroups.PodCgroup("ns_pod_1", {"cpu": "250m", "memory": "64Mi"}, root=tmp_path)
    leaf = tmp_path / cgroups.PARENT / "ns_pod_1"
    assert (leaf / "cpu.max").read_text() == "25000 100000"
    assert (leaf / "memory.max").read_text() == str(64 * 2**20)
    assert group.applied.startswith("cgroup v2 chainops-lab/ns_pod_1: cpu.max=25000 100000")
