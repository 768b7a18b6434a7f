# SPDX-License-Identifier: GPL-3.0-or-later
"""app_recovery (runbooks 002 Phase 3, 003) against the lab's applications: what the molecule
scenarios p1_app_outage (undo, scale back) and p2_resource_pressure (limits below the size)
do not cover - the ceilings refusing, the pressure steps, a stuck pod, maintenance and flags."""
from __future__ import annotations

import json
import os
import signal

import pytest

from chainlab import probe
from helpers.ansible_run import REPO, run_playbook
from helpers.lab import get_json, kubectl
from kubelab import control

pytestmark = pytest.mark.lab
P1 = REPO / "playbooks" / "p1_app_outage.yml"
P2 = REPO / "playbooks" / "p2_resource_pressure.yml"
MANIFEST = REPO / "lab" / "kubelab" / "manifests" / "default.yaml"


def deployment(name):
    return json.loads(kubectl("get", "deployment/" + name, "-o", "json"))


def pods(app):
    found = json.loads(kubectl("get", "pods", "-l", "app=" + app, "-o", "json"))["items"]
    return [p for p in found if not p["metadata"].get("deletionTimestamp")]


def coordinator(path):
    ips = [p["status"].get("podIP") for p in pods("coordinator")]
    return get_json("http://%s:8090%s" % (ips[0], path)) if ips else (None, None)


@pytest.fixture
def apps(tmp_path):
    """Playbook runner; afterwards the applications go back to the manifest (kubectl replace) and settle."""
    if not control.running():
        pytest.fail("the lab's Kubernetes API is not running: run `make lab-up`")

    def run(playbook, limit=None, check=False, **extra):
        extra_vars = {"chainops_state_dir": str(tmp_path), "app_recovery_incident_id": "test-app-recovery", **extra}
        return run_playbook(playbook, limit=limit, check=check, extra_vars=extra_vars,
                            env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})

    yield run
    kubectl("replace", "--validate=false", "-f", str(MANIFEST))
    for name in ("blockchain-backend", "coordinator"):
        kubectl("rollout", "status", "deployment/" + name, "--timeout=120s")


def plan_of(run):
    return {host: r["ansible_facts"]["app_recovery_plan"]
            for host, r in run.task("Decide the action for the workload").items() if "ansible_facts" in r}


def changed_tasks(run):
    return [e["task"] for e in run.tasks if e["result"].get("changed")]


def test_scaling_above_max_replicas_is_refused_and_escalated(apps):
    run = apps(P1, limit="coordinator", app_recovery_action="scale", app_recovery_replicas=6)
    out = run.stdout + run.stderr
    assert run.rc != 0
    assert "ESCALATE (runbook 002 Phase 3 / runbook 003" in out, out[-4000:]
    assert "scaling to 6 replicas is above app_recovery_max_replicas=5" in out
    assert changed_tasks(run) == []
    assert deployment("coordinator")["spec"]["replicas"] == 1


def test_pressure_raises_the_limit_then_scales_then_escalates_at_both_ceilings(apps):
    raise_cpu = plan_of(apps(P2, limit="coordinator", check=True, app_recovery_pressure="cpu"))["coordinator"]
    assert (raise_cpu["action"], raise_cpu["cpu"], raise_cpu["memory"]) == ("raise_limits", "1000m", "128Mi")

    at_ceiling = {"app_recovery_pressure": "memory", "app_recovery_cpu_ceiling": "500m",
                  "app_recovery_memory_ceiling": "128Mi"}
    scale_out = plan_of(apps(P2, limit="coordinator", check=True, **at_ceiling))["coordinator"]
    assert (scale_out["action"], scale_out["replicas"]) == ("scale", 2)
    assert "limits at the ceiling" in scale_out["reason"]

    run = apps(P2, limit="coordinator", app_recovery_max_replicas=1, **at_ceiling)
    out = run.stdout + run.stderr
    assert run.rc != 0 and "ESCALATE" in out
    assert "already at the ceiling cpu=500m memory=128Mi and 1 replicas at app_recovery_max_replicas=1" in out
    assert changed_tasks(run) == []
    assert deployment("coordinator")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "500m", "memory": "128Mi"}


def test_a_stuck_pod_at_the_same_revision_is_deleted_and_replaced(apps):
    stuck = pods("coordinator")[0]
    pid = int(stuck["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    revision = deployment("coordinator")["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    os.kill(pid, signal.SIGSTOP)  # a hung process: the readiness probe times out, the revision stays
    try:
        assert probe.wait_until(lambda: not any(c["type"] == "Ready" and c["status"] == "True"
                                                for c in pods("coordinator")[0]["status"].get("conditions", [])), 30)
        plan = apps(P1, limit="coordinator", check=True)
        assert plan.rc == 0, plan.stdout[-4000:]
        assert plan_of(plan)["coordinator"]["action"] == "delete_pods"
        assert "not ready at the same revision" in plan_of(plan)["coordinator"]["reason"]

        run = apps(P1, limit="coordinator")
        assert run.ok, run.stdout[-5000:] + run.stderr[-2000:]
        now = pods("coordinator")
        assert [p["metadata"]["uid"] for p in now] != [stuck["metadata"]["uid"]] and len(now) == 1
        assert deployment("coordinator")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision
        assert coordinator("/health") == (200, {"status": "ok", "app": "coordinator"})
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_maintenance_is_reported_then_ended_and_a_flag_turned_off(apps):
    kubectl("patch", "configmap/app-config", "--type", "merge", "-p", '{"data": {"MAINTENANCE_MODE": "true"}}')
    kubectl("rollout", "restart", "deployment/coordinator")
    kubectl("rollout", "status", "deployment/coordinator", "--timeout=60s")
    assert probe.wait_until(lambda: coordinator("/health")[0] == 503, 30)

    left = apps(P1, limit="coordinator")
    assert left.ok, left.stdout[-4000:]
    assert plan_of(left)["coordinator"]["action"] == "none"
    assert "in maintenance mode" in plan_of(left)["coordinator"]["reason"]
    assert changed_tasks(left) == []

    ended = apps(P1, limit="coordinator", app_recovery_maintenance="off",
                 app_recovery_feature_flags=["FEATURE_NEW_SETTLEMENT"])
    assert ended.ok, ended.stdout[-5000:] + ended.stderr[-2000:]
    assert coordinator("/health")[0] == 200
    assert coordinator("/config")[1]["flags"]["FEATURE_NEW_SETTLEMENT"] == "false"
    assert json.loads(kubectl("get", "configmap/app-config", "-o", "json"))["data"]["FEATURE_NEW_SETTLEMENT"] == "false"

    again = apps(P1, limit="coordinator", app_recovery_maintenance="off",
                 app_recovery_feature_flags=["FEATURE_NEW_SETTLEMENT"])
    assert again.ok and changed_tasks(again) == []
