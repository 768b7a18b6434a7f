# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p2_low_peers.yml against the lab (runbook 000 §5): the paths molecule/p2_low_peers does not take.

Molecule covers the bootstrap fix (bad-bootstrap -> node_env recreate -> verified). Here:
a node whose bootstrap list is right but whose peering does not reach the thresholds is
restarted, verified and escalated; with peer_isolation_fix_bootstrap off a wrong list is
reported and escalated without touching the container.
"""
from __future__ import annotations

import pytest

from helpers.ansible_run import REPO, run_playbook

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p2_low_peers.yml"


def messages(run):
    """Every task's msg, unwrapped (the callback wraps long lines in stdout)."""
    return "\n".join(str(entry["result"].get("msg", "")) for entry in run.tasks)


def p2(tmp_path, limit=None, check=False, **extra):
    extra_vars = {"chainops_state_dir": str(tmp_path), "peer_isolation_incident_id": "test-low-peers",
                  "peer_isolation_settle_timeout": 4, "peer_isolation_verify_window": 2,
                  "peer_isolation_verify_samples": 2, **extra}
    return run_playbook(PLAYBOOK, limit=limit, check=check, extra_vars=extra_vars,
                        env={"CHAINOPS_STATE_DIR": tmp_path / "guardrails"})


def state(dk, name):
    attrs = dk.containers.get(name).attrs
    return attrs["Id"], attrs["State"]["StartedAt"]


def test_right_bootstrap_but_isolated_is_restarted_then_escalated_when_peering_stays_low(fleet, dk, tmp_path):
    # Seven nodes give each at most six peers: with min_peers 7 every node counts as isolated, its bootstrap
    # list is right, so the play restarts it and the verification must escalate.
    victim = "bitcell-node-eu-west-2"
    others = {n.name: state(dk, n.name) for n in fleet.docker_nodes if n.name != victim}
    before = state(dk, victim)

    run = p2(tmp_path, limit=victim, peer_isolation_min_peers=7)
    out = messages(run)
    assert run.rc != 0, out[-5000:]
    assert "ESCALATE (runbook 000 §5 No Peers / Network Isolation" in out, out[-5000:]
    assert "still isolated" in out and "iptables -L -n" in out
    after = state(dk, victim)
    assert after[0] == before[0] and after[1] != before[1]  # restarted, not recreated
    assert {name: state(dk, name) for name in others} == others


def test_wrong_bootstrap_with_the_fix_off_is_reported_not_recreated(fleet, fault, dk, tmp_path):
    victim = "bitcell-node-us-east-1"
    fault("bad-bootstrap", victim)
    before = state(dk, victim)

    plan = p2(tmp_path, limit=victim, check=True, peer_isolation_fix_bootstrap=False)
    assert plan.rc == 0, plan.stdout[-4000:]
    assert "report bootstrap" in messages(plan)
    assert "check mode: a real run would escalate" in messages(plan)

    run = p2(tmp_path, limit=victim, peer_isolation_fix_bootstrap=False)
    out = messages(run)
    assert run.rc != 0
    assert "peer_isolation_fix_bootstrap is off" in out and "127.0.9.1:30301" in out, out[-5000:]
    assert state(dk, victim) == before
