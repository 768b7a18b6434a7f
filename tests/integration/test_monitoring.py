# SPDX-License-Identifier: GPL-3.0-or-later
"""Every lab fault raises its runbook alert, and Alertmanager notifies the lab receiver.

Read from outside, as an on-call engineer would: Prometheus' targets API, the
Alertmanager API (`/api/v2/alerts`) and the receiver's records. The lab profile
of the rules fires within seconds (lab/monitoring/rules/profiles.yml).
"""
from __future__ import annotations

import datetime
import json
import os
import re
import time
import urllib.request
from functools import partial

import pytest

from chainlab import monitoring
from helpers.lab import heal, metric, wait_until

pytestmark = pytest.mark.lab
ALERTMANAGER = f"http://{monitoring.ALERTMANAGER}"
RECEIVER = f"http://{monitoring.RECEIVER}"
FIRES_WITHIN = 60  # the slowest: ChainNotProgressing, 20 s after the last block, plus a scrape and an evaluation

# fault, target, then the alerts it must raise: (alertname, severity, labels the alert must carry)
NODE_DOWN = ("node-down", "bitcell-node-us-east-1", [("NodeDown", "warning", {"instance": "bitcell-node-us-east-1"}),
                                                     ("RegionDegraded", "warning", {"region": "us-east"})])
CASES = [
    ("region-down", "us-east", [("RegionDown", "critical", {"region": "us-east"}),
                                ("ChainNotProgressing", "critical", {})]),
    ("partition", "eu-west", [("LowPeerCount", "warning", {"instance": "bitcell-node-eu-west-1"}),
                              ("ChainNotProgressing", "critical", {})]),
    ("banned-miners", "eu-west", [("ChainNotProgressing", "critical", {})]),
    ("cpu-throttle", "bitcell-node-eu-west-2", [("HighProofGenerationTime", "warning",
                                                 {"instance": "bitcell-node-eu-west-2"})]),
    ("tx-flood", "bitcell-node-us-east-3", [("HighPendingTransactions", "warning",
                                             {"instance": "bitcell-node-us-east-3"})]),
    ("disk-fill", "bitcell-node-eu-west-1", [("DiskSpaceLow", "info", {"instance": "bitcell-node-eu-west-1"})]),
    ("bad-bootstrap", "bitcell-node-eu-west-2", [("NoPeers", "warning", {"instance": "bitcell-node-eu-west-2"})]),
]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def timestamp(text):
    """Unix time of an RFC 3339 time from Go (up to nanoseconds, `Z` or an offset)."""
    return datetime.datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text).replace("Z", "+00:00")).timestamp()


def matches(alert, alertname, labels):
    return alert["labels"].get("alertname") == alertname and labels.items() <= alert["labels"].items()


def active_alerts():
    """Alerts Alertmanager holds as active: firing, and neither silenced nor inhibited."""
    return [a for a in get(f"{ALERTMANAGER}/api/v2/alerts") if a["status"]["state"] == "active"]


def fired_since(alertname, labels, since):
    found = [a for a in active_alerts() if matches(a, alertname, labels) and timestamp(a["startsAt"]) >= since]
    return found[0] if found else None


def inactive(alertname, labels):
    return not [a for a in active_alerts() if matches(a, alertname, labels)]


def notified_since(alertname, labels, path, status, since):
    """The receiver's first record at `path` since `since` with that alert in that status."""
    for record in get(f"{RECEIVER}/records?since={since}"):
        alerts = record["payload"].get("alerts", []) if isinstance(record["payload"], dict) else []
        if record["path"] == path and any(a["status"] == status and matches(a, alertname, labels) for a in alerts):
            return record
    return None


def describe_active():
    return sorted(f"{a['labels']['alertname']}{ {k: v for k, v in a['labels'].items() if k in ('instance', 'region')} }"
                  for a in active_alerts())


@pytest.fixture(scope="module")
def monitored(fleet):
    try:
        get(f"{ALERTMANAGER}/api/v2/status")
        get(f"{RECEIVER}/-/healthy")
        monitoring.targets()
    except (OSError, ValueError) as err:
        pytest.fail(f"the lab's monitoring does not answer ({err}): run `make lab-up`")
    return fleet


def test_prometheus_scrapes_every_node_by_name_and_region(monitored):
    targets = monitoring.targets()
    nodes = {t["labels"]["instance"]: t["labels"]["region"] for t in targets if t["labels"]["job"] == "bitcell-nodes"}
    assert nodes == {node.name: node.region for node in monitored.nodes}
    assert {t["labels"]["job"] for t in targets} == {"bitcell-nodes", "alertmanager", "prometheus"}
    assert all(t["health"] == "up" for t in targets), [(t["labels"], t["lastError"]) for t in targets]
    assert all(t["scrapeUrl"].startswith("http://127.") for t in targets)


def test_a_healthy_fleet_raises_no_alert(monitored):
    if wait_until(lambda: not active_alerts(), 30):
        return
    # A host busy with other work slows every proof too: then HighProofGenerationTime is right to fire.
    proofs = {node.name: round(metric(node, "bitcell_proof_gen_time_seconds"), 3) for node in monitored.nodes}
    pytest.fail(f"active on a healthy fleet: {describe_active()}; proof times {proofs} s, "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def inject_and_expect(fault, name, target, expected):
    """Inject the fault once its alerts are quiet; each must fire anew and reach the receiver at its path."""
    def quiet():
        return all(inactive(alertname, labels) for alertname, _severity, labels in expected)

    assert wait_until(quiet, 30), f"{name} {target}: already active before the fault: {describe_active()}"
    since = time.time()
    fault(name, target)
    for alertname, severity, labels in expected:
        alert = wait_until(partial(fired_since, alertname, labels, since), FIRES_WITHIN)
        assert alert, f"{name} {target}: no {alertname} {labels} within {FIRES_WITHIN}s; active: {describe_active()}"
        assert alert["labels"]["severity"] == severity
        assert alert["annotations"]["runbook"].startswith("incident-response.md#")
        path = f"/alerts/{severity}"
        record = wait_until(partial(notified_since, alertname, labels, path, "firing", since), 15)
        assert record, f"the receiver got no {path} notification of {alertname} {labels}"
    return since


@pytest.mark.parametrize("name, target, expected", CASES, ids=[case[0] for case in CASES])
def test_fault_raises_its_alert_and_notifies_the_receiver(monitored, fault, name, target, expected):
    inject_and_expect(fault, name, target, expected)


def test_node_down_raises_its_alerts_and_healing_resolves_them(monitored, fault):
    name, node, expected = NODE_DOWN
    since = inject_and_expect(fault, name, node, expected)
    heal(name, node)
    for alertname, severity, labels in expected:
        assert wait_until(partial(inactive, alertname, labels), 30), f"{alertname} {labels} still active after the heal"
        assert wait_until(partial(notified_since, alertname, labels, f"/alerts/{severity}", "resolved", since), 15), (
            f"the receiver got no resolved notification of {alertname} {labels}")
