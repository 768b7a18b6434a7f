# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's Kubernetes API through kubectl and the official client, checked from outside.

Every workload change is verified through a path other than the API: the pods'
own HTTP endpoints (/config shows the pid and flags, /version the image tag), TCP
connects to their ports, /proc, and the BitCell JSON-RPC. Each test puts the
workloads back as lab-up made them.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from chainlab import probe
from helpers.lab import height
from kubelab import control

pytestmark = pytest.mark.lab
wait_until = probe.wait_until
NS = "default"
BACKEND = "blockchain-backend"
KUBECTL_120 = Path("/tmp/kc120/usr/bin/kubectl")  # Debian's kubernetes-client, as a fresh machine gets
KUBECTLS = [k for k in (shutil.which("kubectl"), str(KUBECTL_120) if KUBECTL_120.exists() else None) if k]


@pytest.fixture(scope="module")
def api():
    if not control.running():
        pytest.fail("the lab's Kubernetes API is not running: run `make lab-up`")
    return k8s_config.new_client_from_config(config_file=str(control.KUBECONFIG))


@pytest.fixture(scope="module")
def core(api):
    return k8s.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api):
    return k8s.AppsV1Api(api)


def kubectl(*args, binary=None, check=True):
    proc = subprocess.run([binary or KUBECTLS[0], *args], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, KUBECONFIG=str(control.KUBECONFIG)), check=False)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def http_json(url):
    """(status, body) of a pod's endpoint; a 503 is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def ready_pods(core, selector, namespace=NS):
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None and p.status.pod_ip and
            any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def app_endpoints(core, app=BACKEND, port=8080):
    return {p.metadata.name: f"http://{p.status.pod_ip}:{port}" for p in ready_pods(core, f"app={app}")}


def settled(apps, name, replicas, namespace=NS):
    """The Deployment rolled out: every replica updated and available, no old pod left."""
    def check():
        dep = apps.read_namespaced_deployment(name, namespace)
        s = dep.status
        return (s.observed_generation == dep.metadata.generation and s.updated_replicas == replicas ==
                (s.replicas or 0) == (s.available_replicas or 0))
    return wait_until(check, 120)


def listening(url):
    host, port = url.split("//")[1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def test_requests_without_the_token_are_401():
    context = ssl.create_default_context(cafile=str(control.STATE / "tls" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{control.SERVER}/api/v1/namespaces/default/pods", context=context, timeout=5)
    assert err.value.code == 401
    assert json.load(err.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


@pytest.mark.parametrize("binary", KUBECTLS)
def test_get_and_describe_pods(core, binary):
    table = kubectl("get", "pods", "-n", NS, "-l", f"app={BACKEND}", binary=binary).stdout
    assert table.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [line.split() for line in table.strip().split("\n")[1:]]
    assert len(rows) == 2 and all(r[1:4] == ["1/1", "Running", "0"] for r in rows), table
    described = kubectl("describe", "pod", "-n", NS, rows[0][0], binary=binary).stdout
    assert "Ready:          True" in described and "Controlled By:  ReplicaSet/blockchain-backend-" in described
    assert "Started container app" in described, "events are listed by involvedObject field selectors"
    pod = core.read_namespaced_pod(rows[0][0], NS)
    status = pod.status.container_statuses[0]
    assert pod.status.phase == "Running" and status.ready and status.restart_count == 0 and status.state.running
    assert pod.metadata.owner_references[0].kind == "ReplicaSet" and pod.metadata.labels["app"] == BACKEND
    pid = http_json(f"http://{pod.status.pod_ip}:8080/config")[1]["pid"]
    assert status.container_id == f"process://{pid}", "the pod is that local process"
    assert "chainops-lab" in Path(f"/proc/{pid}/cgroup").read_text(), pod.metadata.annotations


def test_pod_logs(core):
    pod = ready_pods(core, "app=coordinator")[0]
    out = kubectl("logs", "-n", NS, pod.metadata.name, "--tail=50").stdout
    assert f"coordinator lab listening on {pod.status.pod_ip}:8090" in out
    assert core.read_namespaced_pod_log(pod.metadata.name, NS, tail_lines=1).count("\n") == 1


@pytest.mark.parametrize("binary", KUBECTLS)
def test_rollout_restart_starts_new_processes(core, apps, binary):
    before = {http_json(url + "/config")[1]["pid"] for url in app_endpoints(core).values()}
    kubectl("rollout", "restart", f"deployment/{BACKEND}", "-n", NS, binary=binary)
    status = kubectl("rollout", "status", f"deployment/{BACKEND}", "-n", NS, "--timeout=120s", binary=binary)
    assert "successfully rolled out" in status.stdout
    assert settled(apps, BACKEND, 2)
    after = {http_json(url + "/config")[1]["pid"] for url in app_endpoints(core).values()}
    assert len(after) == 2 and not after & before, "every pod is a new process"
    assert wait_until(lambda: not any(probe_alive(pid) for pid in before), 15), "the old processes stop (SIGTERM)"


def probe_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_set_env_set_image_history_and_undo_change_the_running_process(core, apps):
    deploy = f"deployment/{BACKEND}"
    kubectl("set", "env", deploy, "-n", NS, "FEATURE_CANARY=on")
    kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
    assert settled(apps, BACKEND, 2)
    assert all(http_json(u + "/config")[1]["flags"]["FEATURE_CANARY"] == "on" for u in app_endpoints(core).values())
    kubectl("set", "image", deploy, "-n", NS, "app=chainops/blockchain-backend:v2")
    kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
    assert settled(apps, BACKEND, 2)
    assert {http_json(u + "/version")[1]["version"] for u in app_endpoints(core).values()} == {"v2"}
    history = kubectl("rollout", "history", deploy, "-n", NS).stdout
    revisions = [int(line.split()[0]) for line in history.splitlines() if line[:1].isdigit()]
    assert len(revisions) >= 3 and revisions == sorted(revisions)

    kubectl("rollout", "undo", deploy, "-n", NS)
    kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
    assert settled(apps, BACKEND, 2)
    endpoints = app_endpoints(core).values()
    assert {http_json(u + "/version")[1]["version"] for u in endpoints} == {"lab"}, "the previous image runs again"
    assert all(http_json(u + "/config")[1]["flags"]["FEATURE_CANARY"] == "on" for u in endpoints)
    after = [int(line.split()[0]) for line in kubectl("rollout", "history", deploy, "-n", NS).stdout.splitlines()
             if line[:1].isdigit()]
    assert max(after) == max(revisions) + 1 and max(revisions) - 1 not in after, "undo renumbers the old revision"

    kubectl("set", "env", deploy, "-n", NS, "FEATURE_CANARY-")
    kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
    assert settled(apps, BACKEND, 2)
    assert all("FEATURE_CANARY" not in http_json(u + "/config")[1]["flags"] for u in app_endpoints(core).values())


def test_scale_up_and_down_starts_and_stops_processes(core, apps):
    apps.patch_namespaced_deployment_scale(BACKEND, NS, {"spec": {"replicas": 3}})
    assert settled(apps, BACKEND, 3)
    endpoints = list(app_endpoints(core).values())
    assert len(endpoints) == 3 and all(listening(u) for u in endpoints)
    kubectl("scale", f"deployment/{BACKEND}", "-n", NS, "--replicas=1")
    assert settled(apps, BACKEND, 1)
    kept = list(app_endpoints(core).values())
    assert len(kept) == 1
    assert wait_until(lambda: [listening(u) for u in endpoints].count(True) == 1, 20), "2 processes are gone"
    assert apps.read_namespaced_deployment_scale(BACKEND, NS).spec.replicas == 1
    kubectl("scale", f"deployment/{BACKEND}", "-n", NS, "--replicas=2")
    assert settled(apps, BACKEND, 2)


def test_negative_scale_is_invalid(apps):
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale(BACKEND, NS, {"spec": {"replicas": -1}})
    assert err.value.status == 422 and json.loads(err.value.body)["reason"] == "Invalid"


def test_configmap_patches_reach_the_app_after_a_restart(core, apps):
    deploy = f"deployment/{BACKEND}"
    try:
        kubectl("patch", "configmap", "app-config", "-n", NS, "--type", "merge",
                "-p", '{"data": {"MAINTENANCE_MODE": "true"}}')
        kubectl("rollout", "restart", deploy, "-n", NS)
        kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
        assert settled(apps, BACKEND, 2)
        assert {http_json(u + "/health")[0] for u in app_endpoints(core).values()} == {503}
    finally:
        kubectl("patch", "configmap", "app-config", "-n", NS, "-p", '{"data": {"MAINTENANCE_MODE": "false"}}')
    assert core.read_namespaced_config_map("app-config", NS).data["MAINTENANCE_MODE"] == "false"
    kubectl("rollout", "restart", deploy, "-n", NS)
    kubectl("rollout", "status", deploy, "-n", NS, "--timeout=120s")
    assert settled(apps, BACKEND, 2)
    assert {http_json(u + "/health")[0] for u in app_endpoints(core).values()} == {200}


def test_force_deleted_pod_is_recreated_as_a_new_process(core, apps):
    old = ready_pods(core, "app=coordinator")[0]
    old_pid = http_json(f"http://{old.status.pod_ip}:8090/config")[1]["pid"]
    kubectl("delete", "pod", old.metadata.name, "-n", NS, "--grace-period=0", "--force")
    assert wait_until(lambda: not probe_alive(old_pid), 10), "grace 0 kills the process now"
    assert settled(apps, "coordinator", 1)
    new = wait_until(lambda: ready_pods(core, "app=coordinator"), 60)[0]
    assert new.metadata.name != old.metadata.name and new.metadata.uid != old.metadata.uid
    assert new.status.container_statuses[0].restart_count == 0
    assert http_json(f"http://{new.status.pod_ip}:8090/config")[1]["pid"] != old_pid


def test_stale_resource_version_is_a_conflict(apps):
    stale = apps.read_namespaced_deployment("coordinator", NS)
    annotated = {"metadata": {"annotations": {"chainops.io/touched": "yes"}}}
    apps.patch_namespaced_deployment("coordinator", NS, annotated)
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("coordinator", NS, stale)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"
    apps.patch_namespaced_deployment("coordinator", NS, {"metadata": {"annotations": {"chainops.io/touched": None}}})


def test_unknown_namespace_and_deployment_are_404(apps):
    proc = kubectl("get", "deployment", "nope", "-n", NS, check=False)
    assert proc.returncode == 1 and 'deployments.apps "nope" not found' in proc.stderr
    for namespace, name in (("nowhere", BACKEND), (NS, "nope")):
        with pytest.raises(ApiException) as err:
            apps.read_namespaced_deployment(name, namespace)
        assert err.value.status == 404 and json.loads(err.value.body)["reason"] == "NotFound"


def test_us_west_statefulset_nodes_follow_the_chain(fleet, core, apps):
    sts = apps.read_namespaced_stateful_set("bitcell-node-us-west", "bitcell-production")
    assert sts.status.ready_replicas == 2 and sts.status.current_revision == sts.status.update_revision
    pods = sorted(p.metadata.name for p in ready_pods(core, "app=bitcell-node", "bitcell-production"))
    assert pods == ["bitcell-node-us-west-0", "bitcell-node-us-west-1"]
    west, miner = fleet.node("bitcell-node-us-west-0"), fleet.docker_nodes[0]
    assert west.rpc_url == "http://127.0.3.1:8550"
    start = height(west)
    assert abs(start - height(miner)) <= 2
    assert wait_until(lambda: height(west) > start, 20), "the full node follows new blocks"


def test_statefulset_rollout_restart_replaces_every_node_and_they_rejoin(fleet, core, apps):
    sts, ns = "statefulset/bitcell-node-us-west", "bitcell-production"
    before = {p.metadata.name: p.metadata.uid for p in ready_pods(core, "app=bitcell-node", ns)}
    kubectl("rollout", "restart", sts, "-n", ns)
    assert "roll out complete" in kubectl("rollout", "status", sts, "-n", ns, "--timeout=180s").stdout
    after = {p.metadata.name: p.metadata.uid for p in ready_pods(core, "app=bitcell-node", ns)}
    assert set(after) == set(before) and not set(after.values()) & set(before.values())
    history = kubectl("rollout", "history", sts, "-n", ns).stdout
    assert len([line for line in history.splitlines() if line[:1].isdigit()]) >= 2
    assert probe.wait_healthy(fleet.kube_nodes, timeout=60), "both nodes healthy and following again"


def test_a_crashed_container_is_restarted_with_backoff_and_counted(core):
    pod = ready_pods(core, "app=coordinator")[0]
    url = f"http://{pod.status.pod_ip}:8090/config"
    pid = http_json(url)[1]["pid"]
    restarts = pod.status.container_statuses[0].restart_count
    os.kill(pid, 9)

    def restarted():
        current = core.read_namespaced_pod(pod.metadata.name, NS).status.container_statuses[0]
        return current if current.restart_count == restarts + 1 and current.ready else None
    status = wait_until(restarted, 30)
    assert status, "the kubelet restarts a crashed container in place (restartPolicy Always)"
    assert status.last_state.terminated.exit_code == 137 and status.last_state.terminated.reason == "Error"
    assert http_json(url)[1]["pid"] not in (pid, None), "same pod, new process"


def test_kubectl_apply_of_the_lab_manifest_changes_nothing(apps, tmp_path):
    generation = apps.read_namespaced_deployment(BACKEND, NS).metadata.generation
    # One YAML document per object: validating a `kind: List` as a whole needs OpenAPI schemas.
    manifest = tmp_path / "default.yaml"
    manifest.write_text(yaml.safe_dump_all([d for d in control.manifests() if d["metadata"].get("namespace") == NS]))
    applied = kubectl("apply", "-f", str(manifest)).stdout
    assert "deployment.apps/blockchain-backend" in applied
    assert apps.read_namespaced_deployment(BACKEND, NS).metadata.generation == generation
    assert kubectl("diff", "-f", str(manifest), check=False).returncode == 0, "server-side dry run agrees"
