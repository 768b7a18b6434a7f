# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU and memory limits for a pod's processes: one cgroup per pod (v2, else v1), if writable."""
from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "chainops-lab"
PERIOD_US = 100_000
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def cpu_cores(quantity):
    """A CPU quantity ("500m", "1", "0.25") in cores."""
    text = str(quantity).strip()
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_bytes(quantity):
    """A memory quantity ("256Mi", "1G", "1048576") in bytes."""
    match = re.fullmatch(r"([0-9.]+)([kMGT]i?)?", str(quantity).strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def limit_files(version, cores=None, memory=None):
    """{(controller, file): content} for the limits; controller is "" on the unified v2 tree."""
    files = {}
    if cores is not None:
        quota = max(1000, int(cores * PERIOD_US))
        if version == 2:
            files[("", "cpu.max")] = f"{quota} {PERIOD_US}"
        else:
            files[("cpu", "cpu.cfs_period_us")] = str(PERIOD_US)
            files[("cpu", "cpu.cfs_quota_us")] = str(quota)
    if memory is not None:
        files[("", "memory.max") if version == 2 else ("memory", "memory.limit_in_bytes")] = str(memory)
    return files


def version(root=ROOT):
    if (root / "cgroup.controllers").exists():
        return 2
    return 1 if (root / "cpu").is_dir() and (root / "memory").is_dir() else None


class PodCgroup:
    """The cgroup(s) of one pod; `applied` says what was written, or why nothing was."""

    def __init__(self, key, limits, root=ROOT):
        self.dirs, self.applied = [], "none"
        cores = cpu_cores(limits["cpu"]) if "cpu" in limits else None
        memory = memory_bytes(limits["memory"]) if "memory" in limits else None
        if cores is None and memory is None:
            return
        found = version(root)
        if found is None:
            self.applied = "not applied: no cgroup v1 or v2 hierarchy"
            return
        try:
            written = []
            for (controller, name), content in limit_files(found, cores, memory).items():
                directory = self._directory(root, found, controller, key)
                (directory / name).write_text(content)
                written.append(f"{name}={content}")
            self.applied = f"cgroup v{found} {PARENT}/{key}: " + ", ".join(written)
        except OSError as err:
            self.applied = f"not applied: {err.strerror or err}"

    def _directory(self, root, found, controller, key):
        base = root if found == 2 else root / controller
        parent = base / PARENT
        parent.mkdir(exist_ok=True)
        if found == 2:  # controllers must be enabled down the tree to be usable in the leaf
            for node in (root, parent):
                (node / "cgroup.subtree_control").write_text("+cpu +memory")
        directory = parent / key
        directory.mkdir(exist_ok=True)
        if directory not in self.dirs:
            self.dirs.append(directory)
        return directory

    def add(self, pid):
        for directory in self.dirs:
            try:
                (directory / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass  # the process already exited

    def remove(self):
        for directory in self.dirs:
            try:
                os.rmdir(directory)
            except OSError:
                pass  # still has a process, or already gone
