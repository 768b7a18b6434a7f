# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module through real Ansible and get its result back as data.

Every later test uses this instead of calling module code directly, so
argument validation, check mode, diff mode, no_log and the action group all
behave as they do for an operator:

    result = run_module("chainops.runbooks.fleet_probe", {"targets": [...]}, check=True)
    result.ok, result.single["changed"], result.results["bitcell-node-us-east-1"]

Ad-hoc `ansible` runs the module once per host matched by `hosts`; the test
callback `callback_plugins/chainops_results.py` records every task's per-host
result (after no_log censoring, exactly as an operator's callbacks see it),
which is what comes back. Playbook runs return every task's results too.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


@dataclass
class AnsibleRun:
    rc: int
    stdout: str
    stderr: str
    tasks: list = field(default_factory=list)

    @property
    def results(self):
        """The last result of each host: for an ad-hoc run, the module's result per host."""
        return {entry["host"]: entry["result"] for entry in self.tasks}

    def task(self, name):
        """Per-host results of the playbook task called `name` (a role's tasks carry a `role : ` prefix)."""
        return {entry["host"]: entry["result"] for entry in self.tasks
                if entry["task"] == name or entry["task"].endswith(" : " + name)}

    @property
    def flat_output(self):
        """stdout and stderr with the callback's line wrapping undone, for matching messages."""
        return " ".join((self.stdout + self.stderr).split())

    @property
    def ok(self):
        return self.rc == 0 and not any(r.get("failed") or r.get("unreachable") for r in self.results.values())

    @property
    def single(self):
        """The result when exactly one host ran the module."""
        if len(self.results) != 1:
            raise AssertionError(f"expected one host result, got {sorted(self.results)}:\n{self.stdout}{self.stderr}")
        return next(iter(self.results.values()))


def ansible_env(**extra):
    """Environment for ansible commands: this checkout's config, venv and collection."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "chainops_results",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


def _run_options(inventory, check, diff, extra_vars, verbosity):
    """Command-line options shared by `ansible` and `ansible-playbook`."""
    options = ["-i", str(inventory or REPO / "inventories" / "lab")]
    if check:
        options.append("--check")
    if diff:
        options.append("--diff")
    if extra_vars:
        options += ["-e", json.dumps(extra_vars)]
    if verbosity:
        options.append("-" + "v" * verbosity)
    return options


def _run(command, env, timeout):
    with tempfile.TemporaryDirectory(prefix="chainops-run-") as work:
        results = Path(work) / "results.jsonl"
        proc = subprocess.run(command, cwd=REPO, env=ansible_env(CHAINOPS_RESULTS_PATH=results, **(env or {})),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        tasks = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    return AnsibleRun(proc.returncode, proc.stdout, proc.stderr, tasks)


def run_module(module, args=None, *, hosts="localhost", check=False, diff=False, inventory=None,
               extra_vars=None, verbosity=0, env=None, timeout=600):
    """Run `module` with `args` (a dict) on `hosts`; return an AnsibleRun.

    `inventory` defaults to the lab inventory; `localhost` is implicit and local.
    """
    command = [str(VENV_BIN / "ansible"), hosts, "-m", module, "-a", json.dumps(args or {}),
               *_run_options(inventory, check, diff, extra_vars, verbosity)]
    return _run(command, env, timeout)


def run_playbook(playbook, *, limit=None, check=False, diff=False, inventory=None, extra_vars=None,
                 verbosity=0, env=None, timeout=1200):
    """Run a playbook from this checkout; return an AnsibleRun with every task's results."""
    command = [str(VENV_BIN / "ansible-playbook"), str(playbook),
               *_run_options(inventory, check, diff, extra_vars, verbosity)]
    if limit:
        command += ["-l", limit]
    return _run(command, env, timeout)
