# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p2_node_down.yml against the lab (runbook 000 §1), and its circuit breaker."""
from __future__ import annotations

import pytest

from helpers.ansible_run import REPO, run_playbook
from helpers.lab import height, peers

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p2_node_down.yml"


def p2(tmp_path, limit=None, check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "node_down_followup_window": 6,
                  "node_down_incident_id": "test-node-down", **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def started_at(dk, names):
    return {name: dk.containers.get(name).attrs["State"]["StartedAt"] for name in names}


def test_node_down_is_restarted_with_evidence_and_nothing_else_moves(fleet, fault, dk, tmp_path):
    victim = fleet.node("bitcell-node-eu-west-2")
    others = [node.name for node in fleet.docker_nodes if node.name != victim.name]
    before = started_at(dk, others)
    fault("node-down", victim.name)

    plan = p2(tmp_path, check=True)
    assert plan.rc == 0, plan.stdout[-4000:]
    assert "check mode: nothing will change): restart bitcell-node-eu-west-2" in plan.stdout
    assert "guardrails allow restart of bitcell-node-eu-west-2" in plan.stdout
    assert not dk.containers.get(victim.name).attrs["State"]["Running"]

    run = p2(tmp_path)
    assert run.ok, run.stdout[-5000:] + run.stderr[-2000:]
    assert peers(victim) >= 2 and height(victim) > 0
    assert started_at(dk, others) == before
    assert list((tmp_path / "incidents" / "test-node-down" / victim.name).glob("*/logs.txt"))
    assert list((tmp_path / "incidents" / "test-node-down" / victim.name).glob("*/files/data/bitcell/config.toml"))

    again = p2(tmp_path)
    assert again.ok
    assert [e["task"] for e in again.tasks if e["result"].get("changed")] == []


def test_repeated_failures_trip_the_breaker_and_escalate(fleet, fault, tmp_path):
    fault("node-crash-loop", "bitcell-node-us-east-1")
    settings = {"node_down_breaker_failures": 1, "node_down_wait_timeout": 15, "node_down_cooldown": 0}

    first = p2(tmp_path, limit="bitcell-node-us-east-1", **settings)
    assert first.rc != 0
    out = first.stdout + first.stderr
    assert "ESCALATE (runbook 000 §1 NodeDown" in out, out[-5000:]
    assert "circuit breaker is now open" in out

    second = p2(tmp_path, limit="bitcell-node-us-east-1", **settings)
    out = second.stdout + second.stderr
    assert second.rc != 0
    assert "guardrail breaker refused restart of bitcell-node-us-east-1" in out, out[-5000:]
    assert "ESCALATE" in out
