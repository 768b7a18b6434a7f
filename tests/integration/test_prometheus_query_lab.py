# SPDX-License-Identifier: GPL-3.0-or-later
"""prometheus_query (and fleet_probe's prometheus observer) against the lab's real Prometheus.

The unit tests use a stand-in HTTP server; these tests need the real Prometheus
of the lab on 127.0.0.1:9090 and are skipped, saying so, when nothing listens there.
"""
from __future__ import annotations

import socket

import pytest

from helpers.ansible_run import run_module
from helpers.lab import wait_until

pytestmark = pytest.mark.lab
PROMETHEUS = "http://127.0.0.1:9090"
TARGETS = "{{ hostvars | chainops.runbooks.fleet_targets(groups['bitcell_nodes']) }}"


def _listening(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def prometheus(fleet):
    if not _listening("127.0.0.1", 9090):
        pytest.skip("no Prometheus listens on 127.0.0.1:9090: the lab has no Prometheus yet "
                    "(`make lab-up` starts it once the lab ships one)")
    return PROMETHEUS


def query(check=False, **args):
    return run_module("chainops.runbooks.prometheus_query", {"url": PROMETHEUS, **args}, check=check)


def up_by_instance():
    run = query(query='up{job="bitcell-nodes"}')
    assert run.ok, run.stdout + run.stderr
    return {s["metric"]["instance"]: s["value"] for s in run.single["result"]}


def test_up_of_every_node(fleet, prometheus):
    assert wait_until(lambda: up_by_instance() == {n.name: 1.0 for n in fleet.nodes}, 60), up_by_instance()
    run = query(check=True, query='up{job="bitcell-nodes"}')
    assert run.ok and run.single["changed"] is False and run.single["result_type"] == "vector"
    sample = run.single["result"][0]
    assert set(sample) >= {"metric", "value"} and isinstance(sample["value"], float)
    assert sample["metric"]["job"] == "bitcell-nodes" and "region" in sample["metric"]


def test_range_query_of_the_chain_height(fleet, prometheus):
    run = query(query="max(bitcell_chain_height)", type="range", start="now-2m", end="now", step="15s")
    assert run.ok, run.stdout + run.stderr
    assert run.single["result_type"] == "matrix"
    values = run.single["result"][0]["values"]
    assert len(values) >= 2 and all(isinstance(v, float) for t, v in values)
    assert values[-1][1] >= values[0][1]


def test_scalar_and_unknown_metric(fleet, prometheus):
    run = query(query="scalar(count(up))")
    assert run.ok and run.single["result_type"] == "scalar" and run.single["result"]["value"] >= 1
    run = query(query="no_such_metric_anywhere")
    assert run.ok and run.single["result"] == []


def test_malformed_query_shows_prometheus_error(fleet, prometheus):
    run = query(query="sum(up")
    assert not run.ok
    assert run.single["msg"].startswith("Prometheus rejected query='sum(up' (bad_data): ")
    assert "parse error" in run.single["msg"]


def test_unreachable_prometheus_fails_clearly(fleet):
    run = run_module("chainops.runbooks.prometheus_query", {"url": "http://127.0.0.1:9", "query": "up", "retries": 0})
    assert not run.ok
    assert run.single["msg"].startswith("url=http://127.0.0.1:9 is unreachable: connection refused")


def test_fleet_probe_with_three_observers(fleet, prometheus, fault):
    run = run_module("chainops.runbooks.fleet_probe", {"targets": TARGETS, "metrics": [], "prometheus_url": PROMETHEUS})
    assert run.ok, run.stdout + run.stderr
    result = run.single
    assert result["fleet"]["observers"] == ["direct", "peers", "prometheus"]
    assert result["fleet"]["observer_errors"] == {}
    for name, target in result["targets"].items():
        assert target["observers"] == {"direct": "up", "peers": "up", "prometheus": "up"}, name

    down = "bitcell-node-us-east-2"
    fault("node-down", down)
    assert wait_until(lambda: up_by_instance().get(down) == 0.0, 90), "Prometheus should see the node down"
    run = run_module("chainops.runbooks.fleet_probe", {"targets": TARGETS, "metrics": [], "prometheus_url": PROMETHEUS})
    assert run.ok, run.stdout + run.stderr
    target = run.single["targets"][down]
    assert target["observers"]["direct"] == "down" and target["observers"]["prometheus"] == "down"
    assert target["declared_down"] is True and target["down_votes"] >= 2
