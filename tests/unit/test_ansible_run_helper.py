# SPDX-License-Identifier: GPL-3.0-or-later
"""The module-runner helper itself, proven with ansible.builtin modules."""
from __future__ import annotations

from helpers.ansible_run import run_module


def test_result_comes_back_as_data():
    run = run_module("ansible.builtin.ping", {"data": "pong-42"})
    assert run.ok, run.stdout + run.stderr
    assert run.single["ping"] == "pong-42"


def test_check_mode_reaches_the_module(tmp_path):
    target = tmp_path / "file.txt"
    checked = run_module("ansible.builtin.copy", {"content": "x", "dest": str(target)}, check=True)
    assert checked.ok and checked.single["changed"] is True
    assert not target.exists()
    real = run_module("ansible.builtin.copy", {"content": "x", "dest": str(target)})
    assert real.ok and real.single["changed"] is True and target.read_text() == "x"
    again = run_module("ansible.builtin.copy", {"content": "x", "dest": str(target)})
    assert again.single["changed"] is False


def test_failure_is_reported_not_raised():
    run = run_module("ansible.builtin.fail", {"msg": "boom"})
    assert not run.ok
    assert run.single["msg"] == "boom"


def test_one_result_per_inventory_host():
    run = run_module("ansible.builtin.ping", hosts="eu-west")
    assert sorted(run.results) == ["bitcell-node-eu-west-1", "bitcell-node-eu-west-2"]


def test_playbook_runs_return_each_task(tmp_path):
    from helpers.ansible_run import run_playbook

    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: First
      ansible.builtin.set_fact:
        answer: 42
    - name: Second
      ansible.builtin.debug:
        msg: "{{ answer + 1 }}"
    - name: Hidden
      ansible.builtin.debug:
        msg: "s3cr3t-value"
      no_log: true
""")
    run = run_playbook(playbook)
    assert run.ok, run.stdout + run.stderr
    assert run.task("Second")["localhost"]["msg"] == 43
    assert "s3cr3t-value" not in str(run.tasks), "results are recorded after no_log censoring"
