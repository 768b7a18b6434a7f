# SPDX-License-Identifier: GPL-3.0-or-later
"""node_restart and node_resources against the lab's docker nodes, with their guardrails.

Each test breaks the lab with `lab/fault`, lets the module repair it, and checks
the repair through another path than the module used: the node's peers as
other nodes see them, its height over JSON-RPC, its limits via the docker SDK,
its proof time from /metrics.
"""
from __future__ import annotations

import threading

import pytest

from helpers.ansible_run import run_module
from helpers.lab import height, heal, metric, metric_or_none, peers, wait_until

pytestmark = pytest.mark.lab
RESTART = "chainops.runbooks.node_restart"
RESOURCES = "chainops.runbooks.node_resources"


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "guardrails")


def restart_args(node, state_dir, **extra):
    return {"name": node.name, "container": node.name, "health_url": node.health_url, "rpc_url": node.rpc_url,
            "state_dir": state_dir, "wait_timeout": 120, "wait_sleep": 1, **extra}


def guard_fleet(fleet, down=()):
    return [{"name": n.name, "region": n.region, "healthy": n.name not in down} for n in fleet.docker_nodes]


def started_at(dk, node):
    return dk.containers.get(node.name).attrs["State"]["StartedAt"]


def test_a_stopped_node_is_started_and_seen_by_its_peers(fleet, dk, fault, state_dir):
    node = fleet.node("bitcell-node-eu-west-2")
    other = fleet.node("bitcell-node-eu-west-1")
    peered = peers(other)
    fault("node-down", node.name)
    assert wait_until(lambda: peers(other) == peered - 1, 30)
    args = restart_args(node, state_dir, fleet=guard_fleet(fleet, down={node.name}))

    predicted = run_module(RESTART, args, check=True).single
    assert predicted["changed"] is True and predicted["actions"] == ["docker start %s" % node.name]
    assert predicted["guardrails"]["allowed"] is True and predicted["guardrails"]["outcome"] is None
    assert dk.containers.get(node.name).status == "exited", "check mode must not start anything"

    done = run_module(RESTART, args).single
    assert done["changed"] is True and done["actions"] == predicted["actions"]
    assert done["guardrails"]["outcome"] == "success"
    assert done["after"]["healthy"] is True and done["after"]["running"] is True
    # Another path: the other eu-west node sees it as a peer again, and its own height follows the chain.
    assert wait_until(lambda: peers(other) == peered, 60)
    assert abs(height(node) - height(other)) <= 2

    again = run_module(RESTART, dict(args, fleet=guard_fleet(fleet))).single
    assert again["changed"] is False and again["actions"] == [] and "is healthy" in again["msg"]
    assert run_module(RESTART, dict(args, fleet=guard_fleet(fleet)), check=True).single["changed"] is False


def test_quorum_refuses_to_take_a_healthy_node_down(fleet, dk, fault, state_dir):
    down = fleet.node("bitcell-node-eu-west-2")
    node = fleet.node("bitcell-node-us-east-1")
    fault("node-down", down.name)
    before = started_at(dk, node)
    args = restart_args(node, state_dir, condition="always", fleet=guard_fleet(fleet, down={down.name}))
    for check in (True, False):
        run = run_module(RESTART, args, check=check)
        result = run.single
        assert run.rc != 0 and result["failed"] is True
        assert result["guardrails"]["rule"] == "quorum", result
        assert result["guardrails"]["numbers"]["healthy"] == 4
        assert result["guardrails"]["numbers"]["min_healthy"] == 4
    assert started_at(dk, node) == before, "a refused restart must not touch the container"
    skipped = run_module(RESTART, dict(args, on_refusal="skip")).single
    assert skipped["changed"] is False and skipped["skipped"] is True and "quorum" in skipped["msg"]


def test_cooldown_refuses_a_second_restart_unless_forced(fleet, dk, state_dir):
    node = fleet.node("bitcell-node-us-east-3")
    args = restart_args(node, state_dir, condition="always", wait_for="healthy", fleet=guard_fleet(fleet))
    first = run_module(RESTART, args).single
    assert first["changed"] is True and first["actions"] == ["docker restart %s" % node.name]
    after_first = started_at(dk, node)
    second = run_module(RESTART, args)
    assert second.rc != 0 and second.single["guardrails"]["rule"] == "cooldown"
    assert second.single["guardrails"]["numbers"]["cooldown"] == 300
    assert started_at(dk, node) == after_first
    forced = run_module(RESTART, dict(args, force=True)).single
    assert forced["changed"] is True and started_at(dk, node) != after_first


def test_circuit_breaker_trips_on_a_crash_loop_a_restart_cannot_fix(fleet, dk, fault, state_dir):
    node = fleet.node("bitcell-node-eu-west-1")
    peered = peers(node)
    fault("node-crash-loop", node.name)
    args = restart_args(node, state_dir, cooldown=0, breaker_failures=2, wait_timeout=12,
                        fleet=guard_fleet(fleet, down={node.name}))

    def attempt():
        result = run_module(RESTART, args).single
        return result.get("failed", False), result["guardrails"].get("rule"), result["guardrails"].get("escalate")

    outcomes = [attempt(), attempt(), attempt()]
    assert outcomes[0] == (True, None, False), outcomes
    assert outcomes[1] == (True, None, True), "the second failure opens the breaker and escalates"
    assert outcomes[2] == (True, "breaker", True), "the third run is refused before it restarts anything"
    # An operator restores the config (what the runbook says to do next; docker's own restart policy may pick it
    # up first); only with the breaker reset will we restart the node again.
    good = node.data_dir / "config.toml.lab-good"
    (node.data_dir / "config.toml").write_text(good.read_text())
    refused = run_module(RESTART, dict(args, condition="always", wait_timeout=120)).single
    assert refused["guardrails"]["rule"] == "breaker"
    repaired = run_module(RESTART, dict(args, condition="always", breaker_reset=True, wait_timeout=120)).single
    assert repaired["changed"] is True and repaired["guardrails"]["outcome"] == "success", repaired
    good.unlink()
    heal("node-crash-loop", node.name)
    assert wait_until(lambda: metric_or_none(node, "bitcell_peer_count") == peered, 60)


def test_the_lock_lets_one_of_two_concurrent_runs_act(fleet, dk, state_dir):
    node = fleet.node("bitcell-node-us-east-2")
    args = restart_args(node, state_dir, condition="always", cooldown=0, fleet=guard_fleet(fleet))
    results = [None, None]

    def run(index):
        results[index] = run_module(RESTART, args).single

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rules = sorted(str(r["guardrails"].get("rule")) for r in results)
    assert rules == ["None", "lock"], results
    refused = [r for r in results if r["guardrails"].get("rule") == "lock"][0]
    assert refused["failed"] is True and "lock" in refused["msg"]


def test_more_cpu_brings_proof_time_down(fleet, dk, fault, state_dir):
    node = fleet.node("bitcell-node-us-east-1")
    fault("cpu-throttle", node.name)
    assert wait_until(lambda: (metric_or_none(node, "bitcell_proof_gen_time_seconds") or 0) > 0.5, 60)
    args = {"container": node.name, "cpu": "1", "state_dir": state_dir, "fleet": guard_fleet(fleet)}
    predicted = run_module(RESOURCES, args, check=True, diff=True).single
    assert predicted["changed"] is True and predicted["before"]["cpu"] == "100m"
    assert predicted["actions"] == ["docker update --cpus 1.0 %s" % node.name]
    assert predicted["diff"] == {"before": {"cpu": "100m", "memory": "256Mi"}, "after": {"cpu": "1", "memory": "256Mi"}}
    assert dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"] == 100_000_000
    done = run_module(RESOURCES, args).single
    assert done["changed"] is True and done["actions"] == predicted["actions"] and done["after"]["cpu"] == "1"
    assert dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert wait_until(lambda: metric(node, "bitcell_proof_gen_time_seconds") < 0.5, 90), "proof time must fall"
    assert run_module(RESOURCES, args).single["changed"] is False
    assert run_module(RESOURCES, args, check=True).single["changed"] is False


@pytest.mark.parametrize("args, message", [
    ({"container": "no-such-node"}, "container=no-such-node does not exist"),
    ({"container": "bitcell-node-us-east-1", "namespace": "x", "pod": "p"}, "mutually exclusive"),
    ({"compose_service": "nothing-here"}, "compose_service=nothing-here matches 0 containers"),
    ({"container": "bitcell-node-us-east-1", "health_url": "ftp://x"}, "health_url='ftp://x' is not an http(s) URL"),
])
def test_bad_input_fails_cleanly_and_changes_nothing(fleet, dk, state_dir, args, message):
    before = {n.name: started_at(dk, n) for n in fleet.docker_nodes}
    result = run_module(RESTART, dict(args, state_dir=state_dir, condition="always", wait_for="healthy")).single
    assert result["failed"] is True and message in result["msg"], result
    assert {n.name: started_at(dk, n) for n in fleet.docker_nodes} == before


@pytest.mark.parametrize("cpu, memory, message", [
    ("two", None, "cpu='two' is not allowed"),
    (None, "1Mi", "memory='1Mi' is not allowed"),
    ("-1", None, "cpu='-1' is not allowed"),
])
def test_malformed_quantities_fail_before_anything_changes(fleet, dk, state_dir, cpu, memory, message):
    node = fleet.node("bitcell-node-us-east-2")
    before = dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"]
    args = {"container": node.name, "state_dir": state_dir}
    args.update({k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None})
    result = run_module(RESOURCES, args).single
    assert result["failed"] is True and message in result["msg"]
    assert dk.containers.get(node.name).attrs["HostConfig"]["NanoCpus"] == before
