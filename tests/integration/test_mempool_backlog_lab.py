# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p2_pending_transactions.yml against the lab (runbook 000 §6): the paths the molecule
scenario (spam, fee floor) does not cover - a backlog behind a stalled chain, which is a processing
bottleneck the mempool must not be touched for, and lifting the floor while the spam continues."""
from __future__ import annotations

import json

import pytest

from helpers.ansible_run import REPO, run_playbook
from helpers.lab import docker_exec, metric, wait_until

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p2_pending_transactions.yml"
WATCHED = "bitcell-node-eu-west-1"


def p2(tmp_path, limit=None, check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "mempool_backlog_incident_id": "test-mempool-backlog", **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def min_fee(container):
    proc = docker_exec(container, "bitcell-node", "admin", "status")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["mempool"]["min_fee"]


def backlogged(fleet):
    return wait_until(lambda: metric(fleet.node(WATCHED), "bitcell_pending_txs") > 1000, 20)


def test_backlog_behind_a_stalled_chain_leaves_the_mempool_alone(fleet, fault, tmp_path):
    # Injected in this order so that the teardown unbans first: healing tx-flood waits for the chain to move.
    fault("tx-flood", "bitcell-node-us-east-1")
    fault("banned-miners", "us-east")
    assert backlogged(fleet)

    run = p2(tmp_path)
    out = run.flat_output
    assert run.rc != 0
    assert "ESCALATE (runbook 000 §6 HighPendingTransactions" in out, out[-5000:]
    assert "processing bottleneck, not spam" in out and "run playbooks/p1_chain_not_progressing.yml first" in out
    assert [e["task"] for e in run.tasks if e["result"].get("changed")] == []
    assert min_fee(WATCHED) == 0


def test_lifting_the_floor_while_the_spam_continues_puts_it_back(fleet, fault, tmp_path):
    fault("tx-flood", "bitcell-node-us-east-1")
    assert backlogged(fleet)

    floor = p2(tmp_path)
    assert floor.ok, floor.stdout[-5000:] + floor.stderr[-2000:]
    assert "follow-up: the fee floor 2 is a mitigation and stays in place" in floor.flat_output
    assert min_fee(WATCHED) == 2

    lifted = p2(tmp_path, mempool_backlog_restore=True, mempool_backlog_restore_watch=6)
    out = lifted.flat_output
    assert lifted.rc != 0
    assert "the backlog returned within 6 s of restoring the limits" in out, out[-5000:]
    assert "the fee floor 2 was put back" in out
    assert min_fee(WATCHED) == 2
