# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p1_regional_failure.yml against the lab (runbook 000 §2).

The region is broken with lab/fault, the playbook runs with `-l us-east` as the
runbook says, and the result is read back from outside: JSON-RPC, docker's own
StartedAt of the containers, and the Kubernetes API's pod uids.
"""
from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request

import pytest

from helpers.ansible_run import REPO, run_playbook
from helpers.lab import height, peers, wait_until

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p1_regional_failure.yml"
KUBECONFIG = REPO / "lab" / ".state" / "kube" / "kubeconfig"


def p1(tmp_path, limit="us-east", check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "regional_failure_verify_window": 6, **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def started_at(dk, fleet, region):
    return {node.name: dk.containers.get(node.name).attrs["State"]["StartedAt"] for node in fleet.in_region(region)}


def pod_uids():
    out = subprocess.run(["kubectl", "--kubeconfig", str(KUBECONFIG), "-n", "bitcell-production", "get", "pods",
                          "-o", "json"], capture_output=True, text=True, check=True).stdout
    return {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in json.loads(out)["items"]}


def prometheus_up(instance):
    query = urllib.parse.quote(f'up{{instance="{instance}"}}')
    with urllib.request.urlopen(f"http://127.0.0.1:9090/api/v1/query?query={query}", timeout=5) as reply:
        result = json.load(reply)["data"]["result"]
    return result[0]["value"][1] if result else None


def changed_tasks(run):
    return [(entry["host"], entry["task"]) for entry in run.tasks if entry["result"].get("changed")]


def healthy(node):
    try:
        return peers(node) >= 2 and height(node) > 0
    except OSError:
        return False


def test_region_down_is_repaired_without_touching_the_other_regions(fleet, fault, dk, tmp_path):
    eu_before, pods_before = started_at(dk, fleet, "eu-west"), pod_uids()
    fault("region-down", "us-east")
    east = fleet.in_region("us-east")

    plan = p1(tmp_path, check=True)
    assert plan.rc == 0, plan.stdout[-4000:] + plan.stderr[-2000:]
    assert "us-east: configuration" in plan.stdout
    assert plan.stdout.count("would restart") >= len(east), plan.stdout[-4000:]
    assert not any(dk.containers.get(node.name).attrs["State"]["Running"] for node in east), "check mode restarted"

    run = p1(tmp_path)
    assert run.ok, run.stdout[-5000:] + run.stderr[-2000:]
    assert "verification: ok" in run.stdout
    for node in east:
        assert healthy(node), node.name
    assert started_at(dk, fleet, "eu-west") == eu_before
    assert pod_uids() == pods_before

    again = p1(tmp_path)
    assert again.ok, again.stdout[-4000:]
    assert changed_tasks(again) == []


def test_restart_past_quorum_is_refused_while_another_region_is_down(fleet, fault, dk, tmp_path):
    # us-east degraded (one node stopped) while eu-west-2 is down too: the stopped node
    # may come back (it lowers nothing), the healthy us-east nodes may not be restarted,
    # since each would leave fewer than 4 of the 5 miners healthy.
    fault("node-down", "bitcell-node-us-east-1")
    fault("node-down", "bitcell-node-eu-west-2")
    untouched = {name: at for name, at in started_at(dk, fleet, "us-east").items() if name != "bitcell-node-us-east-1"}

    run = p1(tmp_path)
    assert run.rc != 0, run.stdout[-4000:]
    assert "guardrail quorum refused restart of bitcell-node-us-east-2" in run.stdout, run.stdout[-5000:]
    assert "ESCALATE (runbook 000 §2 RegionDown" in run.stdout + run.stderr
    assert healthy(fleet.node("bitcell-node-us-east-1"))
    assert {name: at for name, at in started_at(dk, fleet, "us-east").items() if name in untouched} == untouched
    assert not dk.containers.get("bitcell-node-eu-west-2").attrs["State"]["Running"], "eu-west-2 is outside -l us-east"


def test_provider_outage_restarts_nothing_and_waits_for_the_provider(fleet, fault, dk, tmp_path):
    before = started_at(dk, fleet, "us-east")
    fault("region-outage", "us-east")
    # Prometheus must have scraped the region as down too (2 s scrape interval).
    assert wait_until(lambda: all(prometheus_up(node.name) == "0" for node in fleet.in_region("us-east")), 40)
    # ...and the other nodes must have dropped it from their peer lists (the peers' view is the third observer).
    others = [node for node in fleet.nodes if node.region != "us-east"]
    assert wait_until(lambda: all(peers(node) == len(others) - 1 for node in others), 60)

    run = p1(tmp_path)
    assert "us-east: waiting for provider" in run.stdout, run.stdout[-4000:]
    assert "does NOT hold" in run.stdout  # the 2 eu-west miners alone are no quorum of 5
    assert run.rc != 0 and "P0" in run.stdout + run.stderr
    assert started_at(dk, fleet, "us-east") == before
