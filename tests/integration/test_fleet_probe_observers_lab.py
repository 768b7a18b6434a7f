# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet_probe's k-of-n rule against the lab: a stopped node is declared down by direct + peers;
one observer alone never declares a node down."""
from __future__ import annotations

import pytest

from helpers.ansible_run import run_module
from helpers.lab import peers, wait_until

pytestmark = pytest.mark.lab
TARGETS = "{{ hostvars | chainops.runbooks.fleet_targets(groups['bitcell_nodes']) }}"
DOWN = "bitcell-node-eu-west-2"


def peer_count(node):
    """net_peerCount, or None while the node does not answer (being recreated)."""
    try:
        return peers(node)
    except (OSError, ValueError, RuntimeError):
        return None


def probe(targets=TARGETS, **args):
    run = run_module("chainops.runbooks.fleet_probe", {"targets": targets, "metrics": [], "timeout": 2, **args})
    assert run.ok, run.stdout + run.stderr
    return run.single


def test_healthy_lab_declares_nobody_down(fleet):
    result = probe()
    assert result["fleet"]["declared_down"] == []
    for name, target in result["targets"].items():
        assert target["observers"] == {"direct": "up", "peers": "up"}, name
        assert target["verdict"] == "0 of 2 observers say down; k=2 \u2192 not down"


def test_stopped_node_is_declared_down_by_direct_and_peers(fleet, fault):
    fault("node-down", DOWN)
    others = [n for n in fleet.nodes if n.name != DOWN]
    assert wait_until(lambda: all(peers(n) == len(others) - 1 for n in others), 30), "peers should drop the node"
    result = probe()
    target = result["targets"][DOWN]
    assert target["observers"] == {"direct": "down", "peers": "down"}
    assert target["down_votes"] == 2 and target["declared_down"] is True
    assert target["verdict"] == "2 of 2 observers say down (direct, peers); k=2 \u2192 down"
    assert result["fleet"]["declared_down"] == [DOWN]
    assert result["fleet"]["unreachable"] == [DOWN]


def test_one_observer_alone_does_not_declare_a_node_down(fleet, fault):
    fault("node-down", DOWN)
    node = fleet.node(DOWN)
    # Probing only the stopped node: no other peer list, so only `direct` can vote.
    result = probe(targets=[{"name": node.name, "region": node.region, "rpc_url": node.rpc_url,
                             "health_url": node.health_url}])
    target = result["targets"][DOWN]
    assert target["observers"] == {"direct": "down", "peers": "unknown"}
    assert target["declared_down"] is False
    assert target["verdict"] == "1 of 2 observers say down (direct), 1 unknown (peers); k=2 \u2192 not down"
    assert result["fleet"]["declared_down"] == []
    # With k=1 the same single observer would be enough: the rule, not the data, decides.
    assert probe(targets=[{"name": node.name, "rpc_url": node.rpc_url}], down_quorum=1)["targets"][DOWN]["declared_down"]


def test_a_running_node_with_a_bad_bootstrap_is_not_declared_down(fleet, fault):
    """Whatever its peers say (a node whose bootstrap window is still open may dial it, so it can
    have 0 or 1 peer), a node that answers directly is never declared down with k=2."""
    isolated = "bitcell-node-us-east-3"
    fault("bad-bootstrap", isolated)
    assert wait_until(lambda: peer_count(fleet.node(isolated)) is not None, 60)
    result = probe()
    target = result["targets"][isolated]
    assert target["observers"]["direct"] == "up"
    assert target["declared_down"] is False and result["fleet"]["declared_down"] == []
    assert target["down_votes"] <= 1
