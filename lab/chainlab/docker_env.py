# SPDX-License-Identifier: GPL-3.0-or-later
"""dockerd and the node image: start what is missing, remember what we started."""
from __future__ import annotations

import subprocess
import sys
import time

import docker
import docker.errors

from . import procs, topology

IMAGE = "chainops/bitcell-node:lab"
SOCKET = "unix:///var/run/docker.sock"
PIDFILE = topology.STATE / "dockerd.pid"
LOG = topology.STATE / "dockerd.log"
ROOTFS = topology.STATE / "rootfs.tar"
DIGEST_LABEL = "chainops.rootfs.sha256"


def client(timeout=60):
    return docker.DockerClient(base_url=SOCKET, timeout=timeout)


def client_available():
    try:
        return client(timeout=5).ping()
    except (docker.errors.DockerException, OSError):
        return False


def ensure_dockerd(wait=60):
    """Use a running dockerd, or start one with the lab's flags and record its pid."""
    if client_available():
        return False
    topology.STATE.mkdir(parents=True, exist_ok=True)
    with open(LOG, "ab") as log:
        proc = subprocess.Popen(
            ["dockerd", "--storage-driver=vfs", "--iptables=false", "--bridge=none"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    PIDFILE.write_text(str(proc.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"dockerd exited with {proc.returncode}; see {LOG}")
        if client_available():
            return True
        time.sleep(0.5)
    sys.exit(f"dockerd did not answer on {SOCKET} within {wait}s; see {LOG}")


def stop_dockerd(wait=30):
    """Stop dockerd only if the lab started it (by the pid it recorded)."""
    if not PIDFILE.exists():
        return False
    pid = int(PIDFILE.read_text())
    PIDFILE.unlink()
    return procs.terminate(pid, wait)


def ensure_image(dk):
    """Import the node image when its root filesystem changed (or is missing)."""
    from image.build_rootfs import build  # lab/ is on sys.path

    digest = build(ROOTFS)
    try:
        if dk.images.get(IMAGE).labels.get(DIGEST_LABEL) == digest:
            return False
    except docker.errors.ImageNotFound:
        pass
    changes = [f'LABEL {DIGEST_LABEL}="{digest}"', 'ENTRYPOINT ["/usr/local/bin/bitcell-node"]',
               'CMD ["run"]', "ENV BITCELL_DATA_DIR=/data/bitcell", "WORKDIR /data/bitcell"]
    with open(ROOTFS, "rb") as rootfs:
        repository, tag = IMAGE.split(":")
        dk.api.import_image_from_data(rootfs.read(), repository=repository, tag=tag, changes=changes)
    return True
