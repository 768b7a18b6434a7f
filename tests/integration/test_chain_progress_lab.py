# SPDX-License-Identifier: GPL-3.0-or-later
"""chain_progress through real Ansible against the lab: healthy, partitioned, banned miners.

Each fault is injected with the `fault` fixture, which heals it afterwards even
when the test fails.
"""
from __future__ import annotations

import pytest

from helpers.ansible_run import run_module
from helpers.lab import metric, peers, wait_until

pytestmark = pytest.mark.lab
TARGETS = "{{ hostvars | chainops.runbooks.fleet_targets(groups['bitcell_nodes']) }}"
BLOCK = 2.0  # the lab's block interval


def chain_progress(check=False, **args):
    run = run_module("chainops.runbooks.chain_progress", {"targets": TARGETS, **args}, check=check)
    assert run.ok, run.stdout + run.stderr
    return run.single


def test_healthy_lab_is_progressing_and_check_mode_samples_for_real(fleet):
    result = chain_progress(check=True)
    assert result["changed"] is False
    assert result["state"] == "progressing", result["reason"]
    assert result["likely_cause"] == "none"
    assert result["height_delta"] >= 2 and result["blocks_per_minute"] > 0
    assert result["answered"] == [n.name for n in fleet.nodes] and result["unanswered"] == []
    assert len(result["components"]) == 1 and result["components"][0]["size"] == len(fleet.nodes)
    assert result["minority"] is None and result["forks"] == []
    assert result["evidence"]["active_miners"] == len(fleet.miners) and result["evidence"]["banned_miners"] == 0
    node = result["targets"]["bitcell-node-us-east-1"]
    assert len(node["samples"]) == 3 and node["peer_count"] == len(fleet.nodes) - 1
    assert set(result["regions"]) == set(fleet.regions)
    assert result["elapsed"] >= 10


def test_partition_of_eu_west_is_partitioned_with_eu_west_as_minority(fleet, fault):
    fault("partition", "eu-west")
    west = fleet.in_region("eu-west")
    rest = [n for n in fleet.nodes if n.region != "eu-west"]  # us-east with the us-west full nodes
    assert wait_until(lambda: all(peers(n) == len(rest) - 1 for n in rest) and all(peers(n) == 1 for n in west),
                      30), "the peer lists should split"
    result = chain_progress(miner_count=len(fleet.miners))
    assert result["state"] == "partitioned", result["reason"]
    assert result["likely_cause"] == "network_partition"
    assert [c["nodes"] for c in result["components"]] == [[n.name for n in rest], [n.name for n in west]]
    assert result["minority"] == {"nodes": [n.name for n in west], "regions": {"eu-west": 2}}
    assert result["evidence"]["minority_regions"] == ["eu-west"]
    assert result["evidence"]["component_sizes"] == [len(rest), 2]
    assert "minority side: bitcell-node-eu-west-1, bitcell-node-eu-west-2 (eu-west)" in result["recommended_action"]
    assert result["recommended_action"].startswith("Restart nodes to re-establish connections")
    assert result["regions"]["eu-west"]["components"] == [1] and result["regions"]["us-east"]["components"] == [0]
    assert result["regions"]["us-west"]["components"] == [0]
    assert result["height_delta"] == 0


def test_banned_eu_west_miners_stall_the_chain_with_no_active_miners(fleet, fault):
    fault("banned-miners", "eu-west")
    node = fleet.node("bitcell-node-us-east-1")
    assert wait_until(lambda: metric(node, "bitcell_banned_miners") == 2, 15)
    result = chain_progress(miner_count=len(fleet.miners))  # the us-west full nodes are targets, not miners
    assert result["state"] == "stalled", result["reason"]
    assert result["likely_cause"] == "no_active_miners"
    assert result["evidence"]["banned_miners"] == 2
    assert result["evidence"]["active_miners"] == 3 and result["evidence"]["active_miners_needed"] == 4
    assert result["recommended_action"].startswith("Unban miners or reset trust scores")
    assert len(result["components"]) == 1, "banning miners keeps the peer graph connected"


def test_bad_input_names_the_argument(fleet):
    run = run_module("chainops.runbooks.chain_progress", {"targets": TARGETS, "samples": 1})
    assert not run.ok and run.single["msg"] == "samples=1 is not allowed; samples must be between 2 and 1000"
    targets = len(fleet.nodes)
    run = run_module("chainops.runbooks.chain_progress", {"targets": TARGETS, "quorum": targets + 1})
    assert not run.ok
    assert run.single["msg"] == (f"quorum={targets + 1} is not allowed; quorum must be between 1 and {targets} "
                                 "(the number of targets)")
