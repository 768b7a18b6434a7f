# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: restarting a lab node with node_restart, the runbook's way, and the physical floor.

Against one node of the running lab (``make lab-up``), for ``--rounds`` rounds,
interleaved so that machine noise hits every method alike:

(a) ``chainops.runbooks.node_restart`` (``condition=always``, ``wait_for=healthy``)
    run by ``ansible`` the way a playbook task runs it, timed from the command's
    start until it returns (Ansible's start-up included), and the module's own
    ``elapsed``;
(b) the runbook by hand: ``docker restart <node>`` then ``curl`` on /health
    once a second until it answers 200;
(c) the floor: ``docker restart`` through the SDK in this process, then /health
    polled every 20 ms until the first 200.

Each method's restart is checked (the container's StartedAt changed, /health
answers 200) or the run fails.  Times are printed with the overhead of (a) and
(b) over (c) in seconds and as ratios; nothing is asserted about speed.

Run with the venv python: ``.venv/bin/python benchmarks/bench_restart.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'lab'))

from chainlab import docker_env, topology  # noqa: E402  (lab/ is not a package on sys.path by default)

PYTHON = os.path.abspath(sys.executable)
ANSIBLE = Path(PYTHON).parent / 'ansible'
POLL = 0.02


def healthy(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(url, deadline_s, interval):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if healthy(url):
            return True
        time.sleep(interval)
    return False


def floor(container, node):
    started = time.monotonic()
    container.restart(timeout=10)
    if not wait_healthy(node.health_url, 120, POLL):
        raise SystemExit('floor: %s did not answer 200 on /health within 120 s' % node.name)
    return time.monotonic() - started


def by_hand(node):
    script = ('docker restart %s >/dev/null && until curl -fs %s >/dev/null; do sleep 1; done'
              % (node.name, node.health_url))
    started = time.monotonic()
    subprocess.run(['timeout', '120', 'bash', '-c', script], check=True)
    return time.monotonic() - started


def ours(node, state_dir):
    args = {'name': node.name, 'container': node.name, 'health_url': node.health_url, 'condition': 'always',
            'wait_for': 'healthy', 'wait_sleep': 0.2, 'cooldown': 0, 'state_dir': state_dir}
    capture = os.path.join(state_dir, 'capture.json')
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), BENCH_CAPTURE_FILE=capture,
               ANSIBLE_CALLBACK_PLUGINS=str(REPO / 'benchmarks' / 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='bench_capture', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    started = time.monotonic()
    proc = subprocess.run([str(ANSIBLE), 'localhost', '-m', 'chainops.runbooks.node_restart', '-a', json.dumps(args)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    with open(capture, encoding='utf-8') as handle:
        (entry,) = json.load(handle)['results']
    if proc.returncode != 0 or entry['outcome'] != 'ok':
        raise SystemExit('node_restart failed: %s' % entry['result'].get('msg'))
    return wall, entry['result']['elapsed']


def checked(name, container, node, method):
    """method()'s value, after making sure it really restarted the node and left it healthy."""
    container.reload()
    before = container.attrs['State']['StartedAt']
    value = method()
    container.reload()
    if container.attrs['State']['StartedAt'] == before or not healthy(node.health_url):
        raise SystemExit('%s did not restart %s' % (name, node.name))
    return value


def line(name, times, floor_median):
    median = statistics.median(times)
    return '%-34s median %6.2f s  (min %5.2f, max %5.2f)  overhead %+6.2f s  ratio %5.2fx' % (
        name, median, min(times), max(times), median - floor_median, median / floor_median)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--node', default='bitcell-node-eu-west-2', help='a docker node of the lab inventory')
    parser.add_argument('--rounds', type=int, default=3)
    options = parser.parse_args()
    node = topology.load().node(options.node)
    container = docker_env.client().containers.get(node.name)
    if not healthy(node.health_url):
        raise SystemExit('%s is not healthy: bring the lab up (make lab-up) first' % node.name)
    floors, hands, walls, modules = [], [], [], []
    with tempfile.TemporaryDirectory(prefix='bench-restart-') as state_dir:
        for round_no in range(1, options.rounds + 1):
            floors.append(checked('floor', container, node, lambda: floor(container, node)))
            hands.append(checked('by hand', container, node, lambda: by_hand(node)))
            wall, elapsed = checked('node_restart', container, node, lambda: ours(node, state_dir))
            walls.append(wall)
            modules.append(elapsed)
            print('round %d: floor %.2f s, by hand %.2f s, node_restart %.2f s (module %.2f s)'
                  % (round_no, floors[-1], hands[-1], wall, elapsed), flush=True)
    base = statistics.median(floors)
    print('\nrestart %s until /health answers 200, %d rounds, ratios against the floor:' % (node.name, options.rounds))
    print(line('(c) floor: SDK restart + 20 ms poll', floors, base))
    print(line('(b) runbook: docker restart + curl', hands, base))
    print(line('(a) node_restart via ansible', walls, base))
    print(line('(a) node_restart module elapsed', modules, base))


if __name__ == '__main__':
    main()
