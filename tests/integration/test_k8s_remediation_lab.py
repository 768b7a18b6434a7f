# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_workload, configmap_flag, node_restart and node_resources against the lab's Kubernetes API.

The modules act through the Kubernetes API; every test checks the outcome from
outside it: the pods' own HTTP endpoints (/version shows the image tag, /config
the flags and the process id, /health the maintenance mode), TCP connects to
their ports, kubectl, and the BitCell JSON-RPC of the us-west nodes. Each test
puts the workloads back as `make lab-up` made them.
"""
from __future__ import annotations

import json
import socket

import pytest

from chainlab import probe
from helpers.ansible_run import run_module
from helpers.lab import get_json, kubectl
from kubelab import control

pytestmark = pytest.mark.lab
wait_until = probe.wait_until
NS = "default"
WORKLOAD = "chainops.runbooks.k8s_workload"
FLAG = "chainops.runbooks.configmap_flag"
BACKEND_URLS = ["http://127.0.4.%d:8080" % i for i in range(1, 11)]
COORDINATOR_URLS = ["http://127.0.4.%d:8090" % i for i in range(11, 21)]


@pytest.fixture(scope="module")
def kubeconfig():
    if not control.running():
        pytest.fail("the lab's Kubernetes API is not running: run `make lab-up`")
    return str(control.KUBECONFIG)


@pytest.fixture
def lab_state(kubeconfig, tmp_path):
    """Common module arguments; afterwards the workloads go back to the manifests and settle."""
    # cooldown=0: these tests act on one workload several times in a row; the docker tests cover the cooldown.
    yield {"kubeconfig": kubeconfig, "state_dir": str(tmp_path / "guardrails"), "wait_timeout": 180, "wait_sleep": 1,
           "cooldown": 0}
    api = control.client()
    control.apply(api, control.manifests())
    assert control.wait_ready(api), "the lab's workloads did not settle after the test"


def listening(url):
    host, port = url.rsplit("/", 1)[-1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def answers(urls, path):
    """{url: (status, body)} of every pod address in ``urls`` that answers ``path``."""
    replies = {url: get_json(url + path) for url in urls if listening(url)}
    return {url: reply for url, reply in replies.items() if reply[0] is not None}


def backends(path):
    return {url: body for url, (code, body) in answers(BACKEND_URLS, path).items()}


def coordinator(path):
    """(status, body) of the one coordinator pod (its address moves when a rollout replaces it)."""
    replies = list(answers(COORDINATOR_URLS, path).values())
    return replies[0] if len(replies) == 1 else (None, None)


def workload(args, check=False, diff=False, **extra):
    return run_module(WORKLOAD, dict(args, namespace=NS, **extra), check=check, diff=diff).single


def assert_check_then_real_then_idempotent(call):
    """check -> real (same actions) -> real (no change) -> check (no change); returns the real result."""
    predicted = call(check=True)
    assert predicted["changed"] is True and predicted["actions"], predicted
    done = call()
    assert done["changed"] is True and done["actions"] == predicted["actions"], (predicted, done)
    again = call()
    assert again["changed"] is False and again["actions"] == [], again
    assert call(check=True)["changed"] is False
    return done


def test_rollout_undo_restores_the_previous_image(lab_state):
    kubectl("-n", NS, "set", "image", "deployment/blockchain-backend", "app=chainops/blockchain-backend:v2")
    kubectl("-n", NS, "rollout", "status", "deployment/blockchain-backend", "--timeout=120s")
    assert wait_until(lambda: {b["version"] for b in backends("/version").values()} == {"v2"}, 60)

    done = assert_check_then_real_then_idempotent(
        lambda **kw: workload(lab_state, workload="deployment/blockchain-backend", action="undo", **kw))
    assert done["actions"][0].startswith("kubectl rollout undo deployment/blockchain-backend -n default "
                                         "--to-revision=")
    assert done["rollout"].startswith("rolled out")
    # Another path: the processes that answer now run the lab image again.
    assert wait_until(lambda: {b["version"] for b in backends("/version").values()} == {"lab"}, 60)
    assert len(backends("/version")) == 2


def test_scale_up_and_down_starts_and_stops_processes(lab_state):
    assert_check_then_real_then_idempotent(
        lambda **kw: workload(lab_state, workload="deploy/blockchain-backend", action="scale", replicas=3, **kw))
    assert wait_until(lambda: len(backends("/ready")) == 3, 60)
    assert "3/3" in kubectl("-n", NS, "get", "deployment", "blockchain-backend")
    down = workload(lab_state, workload="deploy/blockchain-backend", action="scale", replicas=1, current_replicas=3)
    assert down["changed"] is True
    assert wait_until(lambda: len(backends("/ready")) == 1, 60)
    stale = run_module(WORKLOAD, dict(lab_state, namespace=NS, workload="deploy/blockchain-backend", action="scale",
                                      replicas=0, current_replicas=3)).single
    assert stale["failed"] is True and "has 1 replicas but current_replicas=3" in stale["msg"]
    assert len(backends("/ready")) == 1


def test_a_feature_flag_change_restarts_dependants_once(lab_state):
    pids = {b["pid"] for b in backends("/config").values()}
    assert len(pids) == 2

    def call(**kw):
        return run_module(FLAG, dict(lab_state, namespace=NS, configmap="app-config",
                                     set={"FEATURE_NEW_SETTLEMENT": "false"},
                                     restart=["deployment/blockchain-backend"]), **kw).single

    predicted = call(check=True, diff=True)
    assert predicted["actions"] == [
        "kubectl patch configmap/app-config -n default --type merge (FEATURE_NEW_SETTLEMENT=false)",
        "kubectl rollout restart deployment/blockchain-backend -n default"]
    assert predicted["diff"]["before"]["data"]["FEATURE_NEW_SETTLEMENT"] == "true"
    assert predicted["diff"]["after"]["data"]["FEATURE_NEW_SETTLEMENT"] == "false"
    assert {b["pid"] for b in backends("/config").values()} == pids, "check mode must not restart anything"
    done = call()
    assert done["changed"] is True and done["actions"] == predicted["actions"]
    assert done["rollouts"]["deployment/blockchain-backend"].startswith("rolled out")
    configs = backends("/config")
    assert {b["flags"]["FEATURE_NEW_SETTLEMENT"] for b in configs.values()} == {"false"}
    restarted = {b["pid"] for b in configs.values()}
    assert restarted.isdisjoint(pids), "every backend process must have been replaced"
    again = call()
    assert again["changed"] is False and again["actions"] == []
    assert {b["pid"] for b in backends("/config").values()} == restarted, "no second restart"
    assert call(check=True)["changed"] is False
    # The coordinator reads the same ConfigMap but was not named, so it kept its process and its old value.
    assert coordinator("/config")[1]["flags"]["FEATURE_NEW_SETTLEMENT"] == "true"
    run_module(FLAG, dict(lab_state, namespace=NS, configmap="app-config", set={"FEATURE_NEW_SETTLEMENT": "true"},
                          restart=["deployment/blockchain-backend"]))


def test_maintenance_mode_and_back(lab_state, request):
    def call(on, **kw):
        return workload(lab_state, workload="deployment/coordinator", action="maintenance", maintenance=on, **kw)

    request.addfinalizer(lambda: workload(lab_state, workload="deployment/coordinator", action="set_env",
                                          env={"MAINTENANCE_MODE": None}))
    done = assert_check_then_real_then_idempotent(lambda **kw: call(True, **kw))
    assert done["actions"] == ["kubectl set env deployment/coordinator -n default -c coordinator "
                               "MAINTENANCE_MODE=true"]
    assert wait_until(lambda: coordinator("/health")[0] == 503, 60)
    assert call(False)["changed"] is True
    assert wait_until(lambda: coordinator("/health")[0] == 200, 60)
    unset = workload(lab_state, workload="deployment/coordinator", action="set_env", env={"MAINTENANCE_MODE": None})
    assert unset["actions"] == ["kubectl set env deployment/coordinator -n default -c coordinator MAINTENANCE_MODE-"]


def test_restart_with_a_reason_happens_once(lab_state):
    pid = coordinator("/config")[1]["pid"]
    done = assert_check_then_real_then_idempotent(lambda **kw: workload(
        lab_state, workload="deployment/coordinator", action="restart", restart_reason="INC-42", **kw))
    assert done["actions"] == ["kubectl rollout restart deployment/coordinator -n default"]
    assert wait_until(lambda: (coordinator("/config")[1] or {}).get("pid") not in (None, pid), 60)


def test_delete_pods_replaces_only_what_is_asked(lab_state):
    pids = {b["pid"] for b in backends("/config").values()}
    none_unready = workload(lab_state, workload="deployment/blockchain-backend", action="delete_pods")
    assert none_unready["changed"] is False and "all Ready" in none_unready["msg"]
    done = workload(lab_state, workload="deployment/blockchain-backend", action="delete_pods", only_unready=False,
                    grace_period=0)
    assert done["changed"] is True and done["actions"][0].startswith("kubectl delete pods -n default ")
    assert wait_until(lambda: len(backends("/config")) == 2 and
                      {b["pid"] for b in backends("/config").values()}.isdisjoint(pids), 60)


def test_node_restart_deletes_a_us_west_pod_and_it_follows_the_chain(lab_state, fleet):
    node = fleet.node("bitcell-node-us-west-1")
    args = dict(lab_state, name=node.name, namespace="bitcell-production", pod=node.name, condition="always",
                health_url=node.health_url, rpc_url=node.rpc_url)
    uid = kubectl("-n", "bitcell-production", "get", "pod", node.name, "-o", "jsonpath={.metadata.uid}")
    predicted = run_module("chainops.runbooks.node_restart", args, check=True).single
    assert predicted["actions"] == ["kubectl delete pod %s -n bitcell-production" % node.name]
    done = run_module("chainops.runbooks.node_restart", args).single
    assert done["changed"] is True and done["actions"] == predicted["actions"], done
    assert kubectl("-n", "bitcell-production", "get", "pod", node.name, "-o", "jsonpath={.metadata.uid}") != uid
    # Another path: its own JSON-RPC keeps up with a docker node's height.
    east = fleet.node("bitcell-node-us-east-1")
    assert wait_until(lambda: abs(int(probe.rpc(node.rpc_url, "eth_blockNumber"), 16) -
                                  int(probe.rpc(east.rpc_url, "eth_blockNumber"), 16)) <= 2, 60)
    healthy = run_module("chainops.runbooks.node_restart", dict(args, condition="unhealthy")).single
    assert healthy["changed"] is False and "is healthy" in healthy["msg"]


def test_node_resources_patches_the_workload_template(lab_state):
    args = dict(lab_state, namespace=NS, workload="deployment/coordinator", cpu="1", memory="256Mi")
    done = assert_check_then_real_then_idempotent(
        lambda **kw: run_module("chainops.runbooks.node_resources", args, **kw).single)
    assert done["before"] == {"cpu": "500m", "memory": "128Mi"} and done["after"] == {"cpu": "1", "memory": "256Mi"}
    assert done["actions"] == ["kubectl set resources deployment/coordinator -n default -c coordinator "
                               "--limits=cpu=1,memory=256Mi --requests=cpu=1,memory=256Mi"]
    limits = json.loads(kubectl("-n", NS, "get", "deployment", "coordinator", "-o",
                                "jsonpath={.spec.template.spec.containers[0].resources.limits}"))
    assert limits == {"cpu": "1", "memory": "256Mi"}
    assert wait_until(lambda: coordinator("/ready")[0] == 200, 60)


@pytest.mark.parametrize("extra, message", [
    ({"namespace": "no-such-ns", "workload": "deployment/coordinator", "action": "restart"},
     "namespace=no-such-ns does not exist"),
    ({"namespace": NS, "workload": "deployment/nope", "action": "scale", "replicas": 1},
     "namespace=default deployment/nope does not exist"),
    ({"namespace": NS, "workload": "deployment/coordinator", "action": "scale", "replicas": -1},
     "replicas=-1 is not allowed"),
])
def test_bad_input_changes_nothing(lab_state, extra, message):
    before = kubectl("-n", NS, "get", "deployment", "coordinator", "-o", "jsonpath={.metadata.generation}")
    result = run_module(WORKLOAD, dict(lab_state, **extra)).single
    assert result["failed"] is True and message in result["msg"], result
    assert kubectl("-n", NS, "get", "deployment", "coordinator", "-o", "jsonpath={.metadata.generation}") == before


def test_the_api_token_never_shows_even_at_vvv(lab_state):
    token = (control.STATE / "token").read_text().strip()
    args = {"host": control.SERVER, "api_key": token, "ca_cert": str(control.STATE / "tls" / "ca.crt"),
            "namespace": NS, "workload": "deployment/coordinator", "action": "status", "state_dir": lab_state["state_dir"]}
    run = run_module(WORKLOAD, args, verbosity=3)
    assert run.single["changed"] is False and run.single["rollout"].startswith("rolled out")
    assert token not in run.stdout + run.stderr + json.dumps(run.tasks)
