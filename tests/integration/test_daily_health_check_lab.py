# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/p3_daily_health_check.yml against the lab: report, fail_on, check mode."""
from __future__ import annotations

import pytest

from helpers.ansible_run import REPO, run_playbook

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "p3_daily_health_check.yml"


def daily(tmp_path, check=False, **extra):
    return run_playbook(PLAYBOOK, check=check, extra_vars={"chainops_state_dir": str(tmp_path), **extra})


def test_healthy_lab_writes_a_report_and_passes_fail_on(fleet, tmp_path):
    run = daily(tmp_path, fail_on="unhealthy,down,stalled,disk")
    assert run.ok, run.stdout[-3000:] + run.stderr[-2000:]
    report = next((tmp_path / "reports").glob("daily-health-*.md")).read_text()
    for node in fleet.nodes:
        assert f"| {node.name} | {node.region} | healthy |" in report
    assert "| chain progressing | progressing |" in report


def test_a_down_node_fails_only_when_asked(fleet, fault, tmp_path):
    fault("node-down", "bitcell-node-eu-west-1")
    relaxed = daily(tmp_path)
    assert relaxed.ok, "without fail_on the check reports and passes"
    strict = daily(tmp_path, fail_on="down")
    assert not strict.ok
    message = strict.task("Fail when asked to and something needs attention")
    assert "bitcell-node-eu-west-1" in next(iter(message.values()))["msg"]
    report = next((tmp_path / "reports").glob("daily-health-*.md")).read_text()
    assert "| declared down (k-of-n) | bitcell-node-eu-west-1 |" in report


def test_unknown_fail_on_is_refused_before_anything_runs(fleet, tmp_path):
    run = daily(tmp_path, fail_on="unhealthy,everything")
    assert not run.ok
    assert "fail_on=unhealthy,everything has everything; allowed: unhealthy, down" in run.stdout
    assert not (tmp_path / "reports").exists()


def test_check_mode_probes_for_real_and_writes_nothing(fleet, tmp_path):
    run = daily(tmp_path, check=True)
    assert run.ok, run.stdout[-3000:] + run.stderr[-2000:]
    assert not (tmp_path / "reports").exists() and not (tmp_path / "snapshots").exists()
    probe = run.task("Probe every node of the play at once")
    assert next(iter(probe.values()))["fleet"]["healthy_count"] == len(fleet.nodes)
