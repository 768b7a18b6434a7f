# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests against the running lab (`make lab-up`)."""
from __future__ import annotations

import subprocess

import pytest

from chainlab import docker_env, probe, topology
from helpers.lab import FAULT


@pytest.fixture(scope="session")
def fleet():
    fleet = topology.load()
    if not docker_env.client_available() or not all(s["healthy"] for s in probe.fleet_state(fleet.docker_nodes)):
        pytest.fail("the lab is not up and healthy: run `make lab-up` (make integration does)")
    return fleet


@pytest.fixture(scope="session")
def dk(fleet):
    return docker_env.client()


@pytest.fixture
def fault(fleet):
    """Inject lab faults; whatever a test injected is healed afterwards, even when it fails."""
    injected = []

    def inject(name, target):
        proc = subprocess.run([str(FAULT), name, target], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        injected.append((name, target))
        return proc.stdout

    yield inject
    for name, target in reversed(injected):
        subprocess.run([str(FAULT), "--heal", name, target], capture_output=True, text=True, check=False)
