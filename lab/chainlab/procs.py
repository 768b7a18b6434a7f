# SPDX-License-Identifier: GPL-3.0-or-later
"""Background processes the lab starts, each tracked by a pid file: stop only what we started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import topology

LAB_DIR = topology.REPO / "lab"


def _pidfile(name):
    return topology.STATE / f"{name}.pid"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours still answers kill(0): reap it
        reaped, _status = os.waitpid(pid, os.WNOHANG)
        return reaped == 0
    except ChildProcessError:
        return True


def terminate(pid, wait=10):
    """SIGTERM, then SIGKILL after `wait` seconds; True if it was running."""
    if not alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def running(name):
    pidfile = _pidfile(name)
    if not pidfile.exists():
        return None
    pid = int(pidfile.read_text())
    if not alive(pid):
        pidfile.unlink()
        return None
    return pid


def start(name, module, *args):
    """Start `python -m chainlab.<module> args` detached, unless it already runs."""
    return start_argv(name, [sys.executable, "-m", f"chainlab.{module}", *args],
                      env=dict(os.environ, PYTHONPATH=str(LAB_DIR)))


def start_argv(name, argv, env=None):
    """Start any program detached (its output in `<name>.log`), unless it already runs."""
    if running(name):
        return False
    topology.STATE.mkdir(parents=True, exist_ok=True)
    with open(topology.STATE / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _pidfile(name).write_text(str(proc.pid))
    return True


def stop(name, wait=10):
    pid = running(name)
    _pidfile(name).unlink(missing_ok=True)
    return pid is not None and terminate(pid, wait)


def names(prefix):
    return sorted(p.stem for p in topology.STATE.glob(f"{prefix}*.pid"))
