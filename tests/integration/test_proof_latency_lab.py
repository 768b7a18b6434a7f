# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p2_high_proof_time.yml against the lab (runbook 000 §4): the paths molecule/p2_high_proof_time does not take.

Molecule covers the resource-constrained node whose CPU is raised back to the baseline.
Here the threshold is lowered so that a healthy node counts as slow: without resource
pressure it is a software issue (rollback recommended, nothing rolled back, escalated);
with the ceilings at the node's limits and a low busy threshold it is constrained but at
the ceiling (refused, escalated). Neither changes the container.
"""
from __future__ import annotations

import pytest

from helpers.ansible_run import REPO, run_playbook

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p2_high_proof_time.yml"
VICTIM = "bitcell-node-us-east-1"


def messages(run):
    """Every task's msg, unwrapped (the callback wraps long lines in stdout)."""
    return "\n".join(str(entry["result"].get("msg", "")) for entry in run.tasks)


def p2(tmp_path, limit=VICTIM, check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "proof_latency_incident_id": "test-proof-time",
                  "proof_latency_max": 0.001, **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def container(dk):
    attrs = dk.containers.get(VICTIM).attrs
    return attrs["Id"], attrs["State"]["StartedAt"], attrs["HostConfig"]["NanoCpus"], attrs["HostConfig"]["Memory"]


def test_slow_without_resource_pressure_recommends_a_rollback_and_escalates(fleet, dk, tmp_path):
    before = container(dk)
    plan = p2(tmp_path, check=True)
    assert plan.rc == 0, plan.stdout[-4000:]
    assert "not resource-constrained: recommend a rollback, escalate" in messages(plan)

    run = p2(tmp_path)
    out = messages(run)
    assert run.rc != 0
    assert "ESCALATE (runbook 000 §4 High Proof Generation Time" in out, out[-5000:]
    assert "likely a software issue in version 0.1.0" in out
    assert "chainops/bitcell-node:lab" in out and "nothing was rolled back automatically" in out
    assert [e["task"] for e in run.tasks if e["result"].get("changed")] == []
    assert container(dk) == before


def test_constrained_at_the_ceiling_is_refused_and_escalated(fleet, dk, tmp_path):
    before = container(dk)
    at_limits = {"proof_latency_cpu_baseline": 1.0, "proof_latency_cpu_ceiling": 1.0,
                 "proof_latency_memory_baseline_mib": 256, "proof_latency_memory_ceiling_mib": 256,
                 "proof_latency_busy_percent": 0.001}  # any memory use counts as pressure
    run = p2(tmp_path, **at_limits)
    out = messages(run)
    assert run.rc != 0
    assert "ESCALATE (runbook 000 §4 High Proof Generation Time" in out, out[-5000:]
    assert "resource-constrained but the ceilings are reached (cpu 1.0, memory 256 MiB)" in out
    assert [e["task"] for e in run.tasks if e["result"].get("changed")] == []
    assert container(dk) == before
