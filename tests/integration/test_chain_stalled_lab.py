# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p1_chain_not_progressing.yml against the lab (runbook 000 §3): the paths the molecule
scenario (banned miners) does not cover - a partition the network recovered from, repaired by
restarting the minority side only, and a partition whose links stay down, which escalates."""
from __future__ import annotations

import pytest

from helpers.ansible_run import REPO, run_playbook
from helpers.lab import height

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p1_chain_not_progressing.yml"


def p1(tmp_path, limit=None, check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "chain_stalled_incident_id": "test-chain-stalled", **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def started_at(dk, names):
    return {name: dk.containers.get(name).attrs["State"]["StartedAt"] for name in names}


def test_split_partition_restarts_the_minority_side_only(fleet, fault, dk, tmp_path):
    minority = [node.name for node in fleet.in_region("us-east")]
    majority = [node.name for node in fleet.docker_nodes if node.name not in minority]
    fault("partition-split", "us-east")
    before = started_at(dk, majority + minority)

    plan = p1(tmp_path, check=True)
    assert plan.rc == 0, plan.stdout[-4000:]
    assert "restart the minority side " + ", ".join(minority) in plan.flat_output, plan.stdout[-4000:]
    assert started_at(dk, majority + minority) == before

    run = p1(tmp_path)
    assert run.ok, run.stdout[-5000:] + run.stderr[-2000:]
    assert "after: chain progressing" in run.flat_output
    after = started_at(dk, majority + minority)
    assert all(after[name] != before[name] for name in minority)
    assert {name: after[name] for name in majority} == {name: before[name] for name in majority}
    assert height(fleet.node("bitcell-node-eu-west-1")) > 0


def test_partition_with_links_down_escalates(fleet, fault, tmp_path):
    fault("partition", "us-east")
    run = p1(tmp_path, chain_stalled_verify_attempts=1, chain_stalled_wait_timeout=30)
    out = run.flat_output
    assert run.rc != 0
    assert "ESCALATE (runbook 000 §3 ChainNotProgressing" in out, out[-5000:]
    assert "chain still" in out and "after the repair" in out
