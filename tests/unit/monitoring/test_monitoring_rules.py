# SPDX-License-Identifier: GPL-3.0-or-later
"""The alert rules: one template, two committed renderings, the runbook's alerts and numbers."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from chainlab import monitoring, topology

PROFILES = ("production", "lab")
RUNBOOK_ALERTS = {"NodeDown", "RegionDown", "RegionDegraded", "ChainNotProgressing", "HighProofGenerationTime",
                  "NoPeers", "LowPeerCount", "HighPendingTransactions", "DiskSpaceLow"}
# Runbook 000's levels: P0/P1 page (critical), P2 warning, P3 info.
SEVERITY_OF_PRIORITY = {"P0": "critical", "P1": "critical", "P2": "warning", "P3": "info"}


def rules(profile):
    groups = yaml.safe_load(monitoring.rules_file(profile).read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


@pytest.mark.parametrize("profile", PROFILES)
def test_committed_rules_are_the_rendered_template(profile):
    assert monitoring.rules_file(profile).read_text() == monitoring.render_rules(profile), (
        "run `PYTHONPATH=lab .venv/bin/python -m chainlab.monitoring render-rules` and commit the result")


def test_render_check_reports_nothing_stale():
    assert not monitoring.render_all(check=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_runbook_alert_has_severity_runbook_and_text(profile):
    found = rules(profile)
    assert set(found) == RUNBOOK_ALERTS
    for name, rule in found.items():
        labels, annotations = rule["labels"], rule["annotations"]
        assert labels["severity"] == SEVERITY_OF_PRIORITY[labels["priority"]], name
        assert annotations["runbook"].startswith("incident-response.md#"), name
        assert annotations["summary"] and annotations["description"], name
        assert "@" not in rule["expr"] + str(rule.get("for", "")), f"{name}: placeholder left"


def test_severities_follow_the_runbook_levels():
    priorities = {name: rule["labels"]["priority"] for name, rule in rules("production").items()}
    assert priorities == {"NodeDown": "P2", "RegionDown": "P1", "RegionDegraded": "P2", "ChainNotProgressing": "P1",
                          "HighProofGenerationTime": "P2", "NoPeers": "P2", "LowPeerCount": "P2",
                          "HighPendingTransactions": "P2", "DiskSpaceLow": "P3"}


def threshold(rule):
    return float(re.search(r"[<>]=? *([0-9.]+)$", rule["expr"].split(" and ")[0]).group(1))


def test_production_uses_the_runbook_thresholds_and_the_lab_scales_them():
    production, lab = rules("production"), rules("lab")
    assert threshold(production["ChainNotProgressing"]) == 600  # "No new blocks for 10+ minutes"
    assert threshold(production["HighProofGenerationTime"]) == 30  # "Proof generation > 30 seconds"
    assert threshold(production["HighPendingTransactions"]) == 1000  # ">1000 pending transactions"
    assert threshold(production["LowPeerCount"]) == 2  # "0-1 connected peers"
    assert threshold(production["DiskSpaceLow"]) == 0.1
    assert threshold(lab["ChainNotProgressing"]) == 20
    assert threshold(lab["HighProofGenerationTime"]) == 0.5
    for name in RUNBOOK_ALERTS:
        assert {k: v for k, v in production[name].items() if k not in ("expr", "for", "annotations")} == \
               {k: v for k, v in lab[name].items() if k not in ("expr", "for", "annotations")}, name


def test_lab_proof_threshold_is_the_inventory_one():
    """Playbooks judge proof time by chainops_proof_time_max; the lab's alert must agree with them."""
    group_vars = yaml.safe_load((topology.REPO / "inventories/lab/group_vars/bitcell_nodes.yml").read_text()) or {}
    if "chainops_proof_time_max" not in group_vars:
        pytest.skip("the lab inventory sets no chainops_proof_time_max")
    assert threshold(rules("lab")["HighProofGenerationTime"]) == group_vars["chainops_proof_time_max"]


def test_the_two_profiles_set_the_same_numbers():
    profiles = monitoring.load_profiles()
    assert set(profiles) == set(PROFILES)
    assert set(profiles["production"]) == set(profiles["lab"])


def test_render_refuses_a_placeholder_without_value_and_a_value_without_placeholder():
    with pytest.raises(KeyError, match="uses @missing@ but profile 'lab'"):
        monitoring.render_rules("lab", template="for: @missing@\n", profiles={"lab": {}})
    with pytest.raises(KeyError, match="sets spare, which"):
        monitoring.render_rules("lab", template="for: @used@\n", profiles={"lab": {"used": "5s", "spare": 1}})
    assert monitoring.render_rules("lab", template="for: @used@\n", profiles={"lab": {"used": "5s"}}).endswith(
        "for: 5s\n")


def test_alertmanager_routes_each_severity_to_its_receiver_path():
    config = yaml.safe_load(monitoring.ALERTMANAGER_CONFIG.read_text())
    receivers = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    for severity in ("critical", "warning", "info"):
        assert receivers[routes[f'severity="{severity}"']] == f"http://{monitoring.RECEIVER}/alerts/{severity}"
    assert receivers[config["route"]["receiver"]] == f"http://{monitoring.RECEIVER}/alerts/unrouted"
    used = {rule["labels"]["severity"] for rule in rules("lab").values()}
    assert used <= {"critical", "warning", "info"}


@pytest.mark.skipif(shutil.which("promtool") is None or shutil.which("amtool") is None,
                    reason="needs promtool and amtool (Debian packages prometheus, prometheus-alertmanager)")
def test_rule_unit_tests_pass():
    script = monitoring.CONFIG_DIR / "test-rules.sh"
    proc = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 rules files, 2 test files" in proc.stdout
