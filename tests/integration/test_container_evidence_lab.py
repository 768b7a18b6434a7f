# SPDX-License-Identifier: GPL-3.0-or-later
"""container_evidence through real Ansible against the lab's docker nodes and Kubernetes API.

Every bundle is checked by another path than the module's: sha256 recomputed
from disk, logs against `docker logs --tail` (SDK) or the pod log API, config
files against `docker exec cat` or the ConfigMap itself.  A container and a pod
of our own carry a `*_TOKEN` that must not show anywhere, even at -vvv.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path

import pytest

from chainlab.docker_env import IMAGE
from helpers.ansible_run import REPO, run_module

pytestmark = pytest.mark.lab
MODULE = "chainops.runbooks.container_evidence"
NODE = "bitcell-node-eu-west-2"
KUBECONFIG = REPO / "lab" / ".state" / "kube" / "kubeconfig"
NAMESPACE = "bitcell-production"
STATEFULSET = "bitcell-node-us-west"


def collect(check=False, verbosity=0, **args):
    return run_module(MODULE, args, check=check, verbosity=verbosity)


def verify_bundle(result):
    """The bundle on disk is exactly what the module returned and the manifest lists."""
    bundle = Path(result["bundle_dir"])
    on_disk = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    assert on_disk == sorted(f["path"] for f in result["files"])
    for entry in result["files"]:
        data = (bundle / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["files"] == result["files"][:-1] and result["files"][-1]["path"] == "manifest.json"
    return bundle, manifest


def all_bytes(directory):
    return b"".join(p.read_bytes() for p in Path(directory).rglob("*") if p.is_file())


# --- docker --------------------------------------------------------------------------------

@pytest.fixture
def token_container(fleet, dk):
    """A container of ours from the node image whose environment holds a token it also prints."""
    token = "tok-" + secrets.token_hex(16)
    container = dk.containers.run(
        IMAGE, name="chainops-evidence-" + secrets.token_hex(4), detach=True, network_mode="none",
        entrypoint=["/bin/sh", "-c"],
        command=['echo "starting with --token $BITCELL_API_TOKEN"; i=0; '
                 'while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'],
        environment={"BITCELL_API_TOKEN": token, "NODE_ID": "evidence-test"})
    try:
        deadline = time.monotonic() + 10
        while b"tick 3" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield container, token
    finally:
        container.remove(force=True)


def test_check_mode_writes_nothing_then_a_real_run_preserves_the_node(fleet, dk, tmp_path):
    args = dict(container=NODE, dest=str(tmp_path / "INC-1"), tail_lines=200,
                config_paths=["/data/bitcell/config.toml"])
    checked = collect(check=True, **args)
    assert checked.ok, checked.stdout + checked.stderr
    checked = checked.single
    assert checked["changed"] is True and not (tmp_path / "INC-1").exists()
    assert [f["path"] for f in checked["files"]] == ["files/data/bitcell/config.toml", "inspect.json", "logs.txt",
                                                     "stats.json", "manifest.json"]

    run = collect(**args)
    assert run.ok, run.stdout + run.stderr
    result = run.single
    assert result["changed"] is True and set(result) >= set(checked)
    assert Path(result["bundle_dir"]).parent == tmp_path / "INC-1" / NODE
    assert [f["path"] for f in result["files"]] == [f["path"] for f in checked["files"]]
    bundle, manifest = verify_bundle(result)
    assert manifest["target"] == "container/%s" % NODE and result["missing"] == []

    container = dk.containers.get(NODE)
    # The node keeps logging: the lines kept must be one run of what `docker logs` shows right after, the last
    # 200, or all of them from the start when the node is younger than that.
    logs, later = (bundle / "logs.txt").read_bytes(), container.logs()
    lines = logs.count(b"\n")
    assert logs in later and (lines == 200 or (lines < 200 and later.startswith(logs)))
    config = container.exec_run(["cat", "/data/bitcell/config.toml"]).output
    assert (bundle / "files/data/bitcell/config.toml").read_bytes() == config and b'node_id = "%s"' % NODE.encode() in config
    inspect = json.loads((bundle / "inspect.json").read_text())
    assert inspect["container"]["Id"] == container.id and isinstance(inspect["events"], list)
    stats = json.loads((bundle / "stats.json").read_text())
    assert stats["running"] is True and stats["stats"]["memory_stats"]["usage"] > 0
    assert result["summary"][NODE] == dict(status="running", running=True, restart_count=container.attrs["RestartCount"],
                                           exit_code=0, oom_killed=False, log_lines=lines)

    again = collect(**args).single
    assert again["changed"] is True and again["bundle_dir"] != result["bundle_dir"]
    assert Path(result["bundle_dir"]).is_dir()  # the first snapshot is kept


def test_a_compose_service_resolves_to_its_container(fleet, tmp_path):
    run = collect(compose_service="node-eu-west-2", compose_project="bitcell", dest=str(tmp_path), stats=False,
                  label="eu-west-2", since="10m")
    assert run.ok, run.stdout + run.stderr
    result = run.single
    assert result["target"] == "container/%s" % NODE and Path(result["bundle_dir"]).parent == tmp_path / "eu-west-2"
    assert "stats.json" not in [f["path"] for f in result["files"]]
    verify_bundle(result)


def test_a_token_appears_in_no_file_result_or_vvv_output(token_container, tmp_path):
    container, token = token_container
    run = collect(verbosity=3, container=container.name, dest=str(tmp_path), config_paths=["/etc/hostname"])
    assert run.ok, run.stdout + run.stderr
    result = run.single
    bundle, manifest = verify_bundle(result)
    assert token not in run.stdout + run.stderr + json.dumps(run.results)
    assert token.encode() not in all_bytes(tmp_path)
    inspect = json.loads((bundle / "inspect.json").read_text())
    assert "BITCELL_API_TOKEN=********" in inspect["container"]["Config"]["Env"]
    assert "NODE_ID=evidence-test" in inspect["container"]["Config"]["Env"]
    logs = (bundle / "logs.txt").read_bytes()
    assert logs.startswith(b"starting with --token ********\n") and b"tick 3" in logs
    assert {f["path"]: f["redactions"] for f in manifest["files"]}["logs.txt"] == 1
    # The real log still holds it: the module redacted its copy, not the container.
    assert token.encode() in container.logs()


def test_missing_targets_fail_naming_the_argument_and_write_nothing(fleet, tmp_path):
    dest = tmp_path / "INC-2"
    for args, expected in [
        (dict(container="bitcell-node-nope"), "container=bitcell-node-nope does not exist"),
        (dict(compose_service="node-nope", compose_project="bitcell"),
         "compose_service=node-nope compose_project=bitcell matches 0 containers"),
        (dict(container=NODE, docker_host="tcp://127.0.0.1:1", docker_timeout=2),
         "docker_host=tcp://127.0.0.1:1 is not reachable"),
        (dict(container=NODE, namespace=NAMESPACE), "mutually exclusive: container|namespace"),
    ]:
        run = collect(dest=str(dest), **args)
        assert not run.ok and expected in run.single["msg"], run.single["msg"]
    assert not dest.exists()


def test_a_missing_config_path_is_reported_not_fatal(fleet, tmp_path):
    run = collect(container=NODE, dest=str(tmp_path), stats=False, config_paths=["/data/bitcell/nope.toml"])
    assert run.ok, run.stdout + run.stderr
    assert run.single["missing"] == [dict(member=NODE, path="/data/bitcell/nope.toml",
                                          reason="no such file or directory")]
    assert "/data/bitcell/nope.toml was not collected" in run.stdout + run.stderr


# --- kubernetes ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def core():
    if not KUBECONFIG.exists():
        pytest.fail("the lab's Kubernetes API is not up (no %s): run `make lab-up`" % KUBECONFIG)
    import kubernetes
    return kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=str(KUBECONFIG)))


def kube_collect(check=False, verbosity=0, **args):
    return collect(check=check, verbosity=verbosity, kubeconfig=str(KUBECONFIG), **args)


@pytest.fixture
def token_pod(core):
    """A pod of ours: a token in env and (through envFrom) in a ConfigMap, a config file in a ConfigMap volume."""
    token, suffix = "tok-" + secrets.token_hex(16), secrets.token_hex(3)
    env_map, file_map, name = "evidence-env-" + suffix, "evidence-files-" + suffix, "evidence-pod-" + suffix
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": env_map},
                                                  "data": {"RPC_TOKEN": token, "LOG_LEVEL": "debug"}})
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": file_map},
                                                  "data": {"app.toml": 'mode = "evidence"\n'}})
    core.create_namespaced_pod(NAMESPACE, {
        "metadata": {"name": name, "labels": {"app": "evidence-test"}},
        "spec": {"containers": [{
            "name": "app", "image": IMAGE,
            "command": ["/bin/sh", "-c", 'echo "token is $API_TOKEN and $RPC_TOKEN"; exec sleep 3600'],
            "env": [{"name": "API_TOKEN", "value": token}],
            "envFrom": [{"configMapRef": {"name": env_map}}],
            "volumeMounts": [{"name": "files", "mountPath": "/etc/evidence"}]}],
            "volumes": [{"name": "files", "configMap": {"name": file_map}}]}})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"token is" in core.read_namespaced_pod_log(name, NAMESPACE, _preload_content=False).data:
                break
            time.sleep(0.5)
        yield name, token
    finally:
        core.delete_namespaced_pod(name, NAMESPACE)
        for cm in (env_map, file_map):
            core.delete_namespaced_config_map(cm, NAMESPACE)


def test_every_pod_of_the_statefulset(core, tmp_path):
    args = dict(namespace=NAMESPACE, workload="statefulset/%s" % STATEFULSET, dest=str(tmp_path), tail_lines=50)
    checked = kube_collect(check=True, **args)
    assert checked.ok, checked.stdout + checked.stderr
    assert checked.single["changed"] is True and not list(tmp_path.iterdir())
    run = kube_collect(**args)
    assert run.ok, run.stdout + run.stderr
    result = run.single
    bundle, manifest = verify_bundle(result)
    pods = sorted(p.metadata.name for p in core.list_namespaced_pod(
        NAMESPACE, label_selector="app=bitcell-node,region=us-west").items)
    assert sorted(result["summary"]) == pods and len(pods) >= 1
    assert json.loads((bundle / "inspect.json").read_text())["workload"]["metadata"]["name"] == STATEFULSET
    for pod in pods:
        logs = (bundle / pod / "logs.txt").read_bytes()
        later = core.read_namespaced_pod_log(pod, NAMESPACE, tail_lines=500, _preload_content=False).data
        assert logs.count(b"\n") == result["summary"][pod]["log_lines"] <= 50 and logs in later
        assert json.loads((bundle / pod / "inspect.json").read_text())["pod"]["metadata"]["name"] == pod
        assert result["summary"][pod]["status"] == "Running"
    assert manifest["target"] == "namespace=%s statefulset/%s" % (NAMESPACE, STATEFULSET)


def test_a_pod_token_appears_in_no_file_result_or_vvv_output(core, token_pod, tmp_path):
    name, token = token_pod
    run = kube_collect(verbosity=3, namespace=NAMESPACE, pod=name, dest=str(tmp_path),
                       config_paths=["/etc/evidence/app.toml"])
    assert run.ok, run.stdout + run.stderr
    result = run.single
    bundle, _manifest = verify_bundle(result)
    assert token not in run.stdout + run.stderr + json.dumps(run.results)
    assert token.encode() not in all_bytes(tmp_path)
    inspect = json.loads((bundle / "inspect.json").read_text())
    assert inspect["pod"]["spec"]["containers"][0]["env"] == [{"name": "API_TOKEN", "value": "********"}]
    env_map = next(cm for cm in inspect["config_maps"] if cm.startswith("evidence-env-"))
    assert inspect["config_maps"][env_map] == {"RPC_TOKEN": "********", "LOG_LEVEL": "debug"}
    assert (bundle / "logs.txt").read_bytes().startswith(b"token is ******** and ********\n")
    file_map = next(cm for cm in inspect["config_maps"] if cm.startswith("evidence-files-"))
    assert (bundle / "files/etc/evidence/app.toml").read_text() == \
        core.read_namespaced_config_map(file_map, NAMESPACE).data["app.toml"]


def test_missing_namespace_or_pod_fails_naming_it_and_writes_nothing(core, tmp_path):
    dest = tmp_path / "INC-3"
    for args, expected in [
        (dict(namespace="nope-ns", pod="x"), "namespace=nope-ns does not exist"),
        (dict(namespace=NAMESPACE, pod="bitcell-node-nope-0"),
         "pod=bitcell-node-nope-0 does not exist in namespace=%s" % NAMESPACE),
        (dict(namespace=NAMESPACE, workload="statefulset/nope"),
         "workload=statefulset/nope does not exist in namespace=%s" % NAMESPACE),
    ]:
        run = kube_collect(dest=str(dest), **args)
        assert not run.ok and expected in run.single["msg"], run.single["msg"]
    run = collect(dest=str(dest), namespace=NAMESPACE, pod="x", host="https://127.0.0.1:1", request_timeout=2)
    assert not run.ok and "not reachable" in run.single["msg"]
    assert not dest.exists()
