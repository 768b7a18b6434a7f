# SPDX-License-Identifier: GPL-3.0-or-later
"""Every lab fault shows the symptom the runbook lists, and --heal brings the fleet back.

Symptoms are read from outside the fault injector: the docker API, the nodes'
JSON-RPC, /health and /metrics, and commands inside the containers.
"""
from __future__ import annotations

import pytest

from chainlab import probe
from helpers.lab import docker_exec, heal, height, metric, peers, stalled, wait_until

pytestmark = pytest.mark.lab
BLOCK = 2.0  # the lab's block interval


def fully_healthy(fleet):
    def check():
        states = probe.fleet_state(fleet.docker_nodes)
        return all(s["healthy"] and s["peers"] == len(fleet.nodes) - 1 for s in states)
    return wait_until(check, 60)


def unreachable(node):
    healthy, reason = probe.health(node.health_url, timeout=1)
    return not healthy and reason.startswith("unreachable")


def test_node_down(fleet, dk, fault):
    node, other = fleet.node("bitcell-node-us-east-1"), fleet.node("bitcell-node-eu-west-1")
    fault("node-down", node.name)
    assert dk.containers.get(node.name).status == "exited"
    assert unreachable(node)
    assert wait_until(lambda: peers(other) == len(fleet.nodes) - 2, 15), "peers should notice the node left"
    assert not stalled([other], 3 * BLOCK), "one node down must not halt the chain"
    heal("node-down", node.name)
    assert fully_healthy(fleet)


def test_node_crash_loop(fleet, dk, fault):
    node = fleet.node("bitcell-node-us-east-2")
    fault("node-crash-loop", node.name)
    assert wait_until(lambda: dk.containers.get(node.name).attrs["RestartCount"] >= 2, 30), "docker should keep restarting it"
    assert unreachable(node)
    assert "FATAL: config.toml" in dk.containers.get(node.name).logs(tail=20).decode()
    heal("node-crash-loop", node.name)
    assert fully_healthy(fleet)


def test_region_down_halts_the_chain(fleet, dk, fault):
    fault("region-down", "us-east")
    assert {dk.containers.get(n.name).status for n in fleet.in_region("us-east")} == {"exited"}
    survivors = fleet.in_region("eu-west")
    reachable = len(fleet.nodes) - len(fleet.in_region("us-east"))  # us-west full nodes stay peered
    assert wait_until(lambda: all(peers(n) == reachable - 1 for n in survivors), 15)
    assert stalled(survivors, 3 * BLOCK), "2 of 5 miners cannot hold the > 2/3 quorum"
    heal("region-down", "us-east")
    assert fully_healthy(fleet)
    assert not stalled(fleet.docker_nodes[:1], 3 * BLOCK)


def test_region_outage_leaves_processes_up_but_unreachable(fleet, dk, fault):
    fault("region-outage", "eu-west")
    region = fleet.in_region("eu-west")
    assert {dk.containers.get(n.name).status for n in region} == {"running"}
    assert all(unreachable(n) for n in region), "an outage makes the region unreachable from every observer"
    heal("region-outage", "eu-west")
    assert fully_healthy(fleet)


def test_partition_halts_and_stays_split_until_restart(fleet, fault):
    fault("partition", "eu-west")
    east, west = fleet.in_region("us-east"), fleet.in_region("eu-west")
    outside = len(fleet.nodes) - len(west)  # us-east and the us-west full nodes
    assert wait_until(lambda: all(peers(n) == outside - 1 for n in east) and all(peers(n) == 1 for n in west), 20)
    assert stalled(fleet.docker_nodes, 3 * BLOCK), "neither side has quorum"
    assert metric(east[0], "bitcell_active_miners") == 3
    heal("partition", "eu-west")
    assert fully_healthy(fleet)


def test_banned_miners_halts_the_chain(fleet, fault):
    fault("banned-miners", "eu-west")
    node = fleet.node("bitcell-node-us-east-1")
    assert metric(node, "bitcell_banned_miners") == 2
    assert metric(node, "bitcell_active_miners") == 3
    assert stalled(fleet.docker_nodes, 3 * BLOCK)
    heal("banned-miners", "eu-west")
    assert metric(node, "bitcell_banned_miners") == 0
    assert not stalled([node], 3 * BLOCK)


def test_cpu_throttle_raises_proof_time(fleet, dk, fault):
    node = fleet.node("bitcell-node-eu-west-2")
    produced = metric(node, "bitcell_blocks_produced_total")
    assert wait_until(lambda: metric(node, "bitcell_blocks_produced_total") > produced, 30)
    baseline = metric(node, "bitcell_proof_gen_time_seconds")
    fault("cpu-throttle", node.name)
    assert dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"] == 100_000_000
    produced = metric(node, "bitcell_blocks_produced_total")
    assert wait_until(lambda: metric(node, "bitcell_blocks_produced_total") > produced, 40)
    throttled = metric(node, "bitcell_proof_gen_time_seconds")
    assert throttled > 4 * baseline, (baseline, throttled)
    heal("cpu-throttle", node.name)
    assert dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"] == 1_000_000_000


def test_tx_flood_fills_the_mempool(fleet, fault):
    node = fleet.node("bitcell-node-us-east-3")
    fault("tx-flood", node.name)
    assert wait_until(lambda: metric(node, "bitcell_pending_txs") > 1000, 45), "runbook: > 1000 pending"
    heal("tx-flood", node.name)
    assert wait_until(lambda: metric(node, "bitcell_pending_txs") < 1000, 30)


def test_disk_fill(fleet, fault):
    node = fleet.node("bitcell-node-eu-west-1")
    fault("disk-fill", node.name)
    df = docker_exec(node.name, "df", "-P", "/data/bitcell").stdout.splitlines()[-1].split()
    assert df[4] == "100%", df
    assert wait_until(lambda: probe.health(node.health_url) == (False, "disk full"), 20)
    heal("disk-fill", node.name)
    assert fully_healthy(fleet)


def test_db_corrupt(fleet, fault):
    node = fleet.node("bitcell-node-us-east-3")
    assert docker_exec(node.name, "bitcell-node", "db-check").returncode == 0
    fault("db-corrupt", node.name)
    check = docker_exec(node.name, "bitcell-node", "db-check")
    assert check.returncode == 1 and "CORRUPT: block" in check.stdout, check.stdout + check.stderr
    heal("db-corrupt", node.name)
    assert fully_healthy(fleet)
    assert docker_exec(node.name, "bitcell-node", "db-check").returncode == 0
    evidence = list((fleet.node(node.name).data_dir.parents[1] / "evidence").glob(f"{node.name}-db-*"))
    assert evidence, "the corrupted db is kept aside as evidence, not deleted"


def test_bad_bootstrap_isolates_the_node(fleet, dk, fault):
    node = fleet.node("bitcell-node-eu-west-2")
    fault("bad-bootstrap", node.name)
    env = dict(e.split("=", 1) for e in dk.containers.get(node.name).attrs["Config"]["Env"])
    assert "127.0.9.1" in env["BOOTSTRAP_NODES"]
    assert wait_until(lambda: probe.health(node.health_url) == (False, "no peers"), 30)
    assert peers(node) == 0 and height(node) >= 0
    heal("bad-bootstrap", node.name)
    env = dict(e.split("=", 1) for e in dk.containers.get(node.name).attrs["Config"]["Env"])
    assert "127.0.9.1" not in env["BOOTSTRAP_NODES"]
    assert fully_healthy(fleet)
