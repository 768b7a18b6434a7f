# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet_probe through real Ansible against the lab fleet."""
from __future__ import annotations

import pytest

from helpers.ansible_run import run_module

pytestmark = pytest.mark.lab
TARGETS = "{{ hostvars | chainops.runbooks.fleet_targets(groups['bitcell_nodes']) }}"


def probe(check=False, **args):
    run = run_module("chainops.runbooks.fleet_probe", {"targets": TARGETS, **args}, check=check)
    assert run.ok, run.stdout + run.stderr
    return run.single


def test_check_mode_probes_for_real_and_matches_a_real_run(fleet):
    checked, real = probe(check=True), probe()
    assert checked["changed"] is False and real["changed"] is False
    assert set(checked) == set(real)
    assert sorted(checked["targets"]) == sorted(real["targets"]) == sorted(n.name for n in fleet.nodes)
    assert checked["fleet"]["healthy_count"] == real["fleet"]["healthy_count"] == len(fleet.nodes)
    node = real["targets"]["bitcell-node-us-east-1"]
    assert node["peers"] == len(fleet.nodes) - 1 and node["height"] > 0
    assert node["metrics"]["bitcell_active_miners"] == len(fleet.miners), "us-west full nodes do not mine"


def test_a_stopped_node_is_data_not_failure(fleet, fault):
    fault("node-down", "bitcell-node-eu-west-2")
    result = probe(timeout=1, deadline=10)
    assert result["targets"]["bitcell-node-eu-west-2"]["status"] == "unreachable"
    assert result["fleet"]["unreachable"] == ["bitcell-node-eu-west-2"]
    assert result["fleet"]["regions"]["eu-west"]["status"] == "degraded"
    assert result["fleet"]["regions"]["us-east"]["status"] == "healthy"


def test_bad_input_names_the_argument_and_value(fleet):
    run = run_module("chainops.runbooks.fleet_probe", {"targets": TARGETS, "metrics": ["bad name!"]})
    assert not run.ok
    assert "metrics[0]" in run.single["msg"] and "bad name!" in run.single["msg"]
    run = run_module("chainops.runbooks.fleet_probe", {"targets": TARGETS, "timeout": 0})
    assert not run.ok and "timeout" in run.single["msg"] and "0" in run.single["msg"]


def test_a_password_in_a_url_never_shows_even_at_vvv(fleet):
    node = fleet.node("bitcell-node-us-east-1")
    secret_url = node.health_url.replace("http://", "http://ops:s3cr3t-Pa55@")
    run = run_module("chainops.runbooks.fleet_probe",
                     {"targets": [{"name": node.name, "health_url": secret_url}]}, verbosity=3)
    assert run.ok, run.stdout + run.stderr
    assert run.single["targets"][node.name]["healthy"] is True
    assert "s3cr3t-Pa55" not in run.stdout + run.stderr + str(run.results)
