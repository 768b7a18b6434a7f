# SPDX-License-Identifier: GPL-3.0-or-later
"""Lab faults show the symptom the runbook lists, and --heal brings the fleet back.

Symptoms are read from outside the fault injector: the docker API, the nodes'
JSON-RPC, /health and /metrics, and commands inside the containers. The faults a
Molecule scenario injects (node-down, region-down, banned-miners, cpu-throttle,
tx-flood, bad-bootstrap) are proven there instead: each `prepare` waits for the
symptom before the playbook runs, and `destroy` heals; test_monitoring.py checks
their alerts.
"""
from __future__ import annotations

import pytest

from chainlab import probe
from helpers.lab import docker_exec, heal, metric, peers, stalled, wait_until

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


def test_node_crash_loop(fleet, dk, fault):
    node = fleet.node("bitcell-node-us-east-2")
    fault("node-crash-loop", node.name)
    assert wait_until(lambda: dk.containers.get(node.name).attrs["RestartCount"] >= 2, 30), "docker should keep restarting it"
    assert unreachable(node)
    assert "FATAL: config.toml" in dk.containers.get(node.name).logs(tail=20).decode()
    heal("node-crash-loop", node.name)
    assert fully_healthy(fleet)


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
