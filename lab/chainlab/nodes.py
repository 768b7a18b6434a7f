# SPDX-License-Identifier: GPL-3.0-or-later
"""BitCell nodes: data volumes and configuration (any runtime), and the container spec (docker)."""
from __future__ import annotations

import subprocess

import docker.errors

from . import topology
from .docker_env import IMAGE

LAB_LABEL = "chainops.lab"


def data_volume_mounted(node):
    return subprocess.run(["mountpoint", "-q", str(node.data_dir)], check=False).returncode == 0


def mount_data_volume(node):
    """A size-capped tmpfs per node: a full disk in the lab is a real ENOSPC."""
    node.data_dir.mkdir(parents=True, exist_ok=True)
    if not data_volume_mounted(node):
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={topology.DATA_VOLUME_SIZE},mode=0755",
                        f"chainops-{node.name}", str(node.data_dir)], check=True)


def unmount_data_volume(node):
    if data_volume_mounted(node):
        subprocess.run(["umount", str(node.data_dir)], check=True)


def config_toml(fleet, node):
    """The node's /data/bitcell/config.toml: the known-good configuration."""
    def toml_list(items):
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"
    return (
        f'node_id = "{node.name}"\n'
        f'region = "{node.region}"\n'
        f'listen_ip = "{node.ip}"\n'
        f"rpc_port = {node.rpc_port}\n"
        f"metrics_port = {node.metrics_port}\n"
        f"p2p_port = {node.p2p_port}\n"
        f"bootstrap_nodes = {toml_list(fleet.bootstrap_for(node))}\n"
        f"miners = {toml_list(fleet.miners)}\n"
        f"block_interval = {topology.BLOCK_INTERVAL}\n"
        f"proof_work = {topology.PROOF_WORK}\n"
        f"chain_id = {topology.CHAIN_ID}\n"
    )


def write_config(fleet, node):
    (node.data_dir / "config.toml").write_text(config_toml(fleet, node))


def prepare_data_dir(fleet, node):
    """The node's volume mounted and its known-good config.toml written unless one is there.

    Whatever runs the node (a container, a StatefulSet pod) reads this directory.
    """
    mount_data_volume(node)
    if not (node.data_dir / "config.toml").exists():
        write_config(fleet, node)


def admin_argv(node, *args):
    """`bitcell-node admin ...` for the node: inside its container, or on the host for a pod.

    A pod is a local process whose data directory (with the admin token) is a host path.
    """
    if node.runtime == "docker":
        return ["docker", "exec", node.name, "bitcell-node", "admin", *args]
    return [str(topology.REPO / "lab" / "bin" / "bitcell-node"), "--data-dir", str(node.data_dir), "admin", *args]


def container_spec(fleet, node, bootstrap=None):
    """Keyword arguments for `containers.create`, as docker-compose would run the node.

    `bootstrap` overrides BOOTSTRAP_NODES in the environment (the runbook edits it
    there), defaulting to every other node of the fleet.
    """
    peers = fleet.bootstrap_for(node) if bootstrap is None else bootstrap
    return dict(
        image=IMAGE,
        name=node.name,
        command=["run"],
        hostname=node.name,
        network_mode="host",
        environment={"NODE_ID": node.name, "REGION": node.region, "BOOTSTRAP_NODES": ",".join(peers)},
        volumes={str(node.data_dir): {"bind": "/data/bitcell", "mode": "rw"}},
        restart_policy={"Name": "on-failure"},
        nano_cpus=topology.BASE_NANO_CPUS,
        mem_limit=topology.BASE_MEM_BYTES,
        labels={LAB_LABEL: "1", "chainops.region": node.region,
                # Compose's labels, so tools that look services up the compose way find the node.
                "com.docker.compose.project": "bitcell",
                "com.docker.compose.service": node.name.replace("bitcell-", "", 1)},
        log_config={"Type": "json-file", "Config": {"max-size": "5m", "max-file": "2"}},
    )


def container(dk, node):
    try:
        return dk.containers.get(node.name)
    except docker.errors.NotFound:
        return None


def create(dk, fleet, node, bootstrap=None, start=True):
    """(Re)create the node's container; the data volume and its chain are kept."""
    existing = container(dk, node)
    if existing is not None:
        existing.remove(force=True)
    created = dk.containers.create(**container_spec(fleet, node, bootstrap))
    if start:
        created.start()
    return created


def lab_containers(dk):
    return dk.containers.list(all=True, filters={"label": LAB_LABEL})
