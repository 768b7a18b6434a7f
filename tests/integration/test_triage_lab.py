# SPDX-License-Identifier: GPL-3.0-or-later
"""The triage role classifies every lab fault as runbook 000 describes it.

Each case injects a fault, runs the role through ansible-playbook and reads
the classification from the role's facts and from the snapshot it keeps.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.ansible_run import run_playbook
from helpers.lab import metric, metric_or_none, wait_until

pytestmark = pytest.mark.lab
PLAYBOOK = Path(__file__).parent / "playbooks" / "triage.yml"


def triage(tmp_path, limit=None):
    run = run_playbook(PLAYBOOK, limit=limit, extra_vars={"snapshot_dir": str(tmp_path)})
    assert run.ok, run.stdout[-3000:] + run.stderr[-2000:]
    per_node = {host: result["ansible_facts"]["triage_findings"]
                for host, result in run.task("Keep each node's own conditions as its fact").items()}
    (fleet_wide,) = [r["ansible_facts"]["triage_findings_by_host"]
                     for r in run.task("Name the runbook conditions every probed node is in").values()]
    assert all(fleet_wide[host] == found for host, found in per_node.items())
    findings = {host: [f["name"] for f in found] for host, found in fleet_wide.items()}
    snapshot = json.loads(next(tmp_path.glob("triage-*.json")).read_text())
    return findings, snapshot


def test_healthy_lab_has_no_findings(fleet, tmp_path):
    findings, snapshot = triage(tmp_path)
    assert findings == {node.name: [] for node in fleet.nodes}
    assert snapshot["chain"]["state"] == "progressing"
    assert snapshot["fleet"]["status"] == "healthy"


def test_node_down(fleet, fault, tmp_path):
    fault("node-down", "bitcell-node-us-east-1")
    findings, snapshot = triage(tmp_path)
    assert findings["bitcell-node-us-east-1"] == ["NodeDown"]
    assert all(not names for host, names in findings.items() if host != "bitcell-node-us-east-1")
    assert snapshot["fleet"]["declared_down"] == ["bitcell-node-us-east-1"]
    assert snapshot["chain"]["state"] == "progressing"


def test_region_down(fleet, fault, tmp_path):
    fault("region-down", "us-east")
    findings, snapshot = triage(tmp_path)
    for node in fleet.in_region("us-east"):
        assert "NodeDown" in findings[node.name]
    assert snapshot["fleet"]["regions"]["us-east"]["status"] == "down"
    assert snapshot["chain"]["state"] != "progressing"


def test_partition(fleet, fault, tmp_path):
    fault("partition", "eu-west")
    west = sorted(node.name for node in fleet.in_region("eu-west"))
    wait_until(lambda: all(metric(n, "bitcell_peer_count") == 1 for n in fleet.in_region("eu-west")), 20)
    findings, snapshot = triage(tmp_path)
    chain = snapshot["chain"]
    # Both sides may propose until heartbeats time out (5 s), so the split can carry a short fork.
    assert chain["state"] in ("partitioned", "forked"), chain
    assert chain["likely_cause"] == "network_partition"
    assert sorted(chain["minority"]["nodes"]) == west
    for name in west:
        assert findings[name] == ["LowPeerCount"]


def test_banned_miners(fleet, fault, tmp_path):
    fault("banned-miners", "eu-west")
    snapshot = triage(tmp_path)[1]
    assert snapshot["chain"]["state"] == "stalled"
    assert snapshot["chain"]["likely_cause"] == "no_active_miners"


def test_cpu_throttle(fleet, fault, tmp_path):
    node = fleet.node("bitcell-node-eu-west-2")
    fault("cpu-throttle", node.name)
    produced = metric(node, "bitcell_blocks_produced_total")
    assert wait_until(lambda: metric(node, "bitcell_blocks_produced_total") > produced, 40)
    findings, snapshot = triage(tmp_path)
    assert findings[node.name] == ["HighProofGenerationTime"], findings
    assert snapshot["containers"][node.name]["cpu_limit"] == 0.1


def test_tx_flood(fleet, fault, tmp_path):
    node = fleet.node("bitcell-node-us-east-3")
    fault("tx-flood", node.name)
    assert wait_until(lambda: metric(node, "bitcell_pending_txs") > 1000, 45)
    findings = triage(tmp_path)[0]
    assert "HighPendingTransactions" in findings[node.name]


def test_disk_fill(fleet, fault, tmp_path):
    node = fleet.node("bitcell-node-eu-west-1")
    fault("disk-fill", node.name)
    wait_until(lambda: (metric_or_none(node, "bitcell_disk_free_bytes") or 0) < 1 << 20, 15)
    findings = triage(tmp_path)[0]
    assert "DiskSpaceLow" in findings[node.name]


def test_bad_bootstrap(fleet, fault, tmp_path):
    node = fleet.node("bitcell-node-eu-west-2")
    fault("bad-bootstrap", node.name)
    wait_until(lambda: metric_or_none(node, "bitcell_peer_count") == 0, 30)
    findings = triage(tmp_path)[0]
    assert findings[node.name] == ["NoPeers"]
