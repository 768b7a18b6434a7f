# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab fleet as `inventories/lab/hosts.yml` describes it.

The inventory is the single source of truth: the lab is built from it, and the
runbooks repair the lab back to it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "lab" / "hosts.yml"
STATE = Path(os.environ.get("CHAINOPS_LAB_STATE", REPO / "lab" / ".state"))
# Shared by every node: a lab-scaled block time, the chain id, resource baselines.
BLOCK_INTERVAL = 2.0
# SHA-256 rounds of 64 KiB per proof: about 0.1 s on a free CPU and about 1 s at
# `docker update --cpus 0.1`, an order of magnitude on either side of the lab's
# 0.5 s HighProofGenerationTime threshold, so a busy machine does not blur the two.
PROOF_WORK = 3000
CHAIN_ID = 1337
BASE_NANO_CPUS = 1_000_000_000
BASE_MEM_BYTES = 256 * 1024 * 1024
DATA_VOLUME_SIZE = "64m"


@dataclass(frozen=True)
class Node:
    name: str
    region: str
    ip: str
    rpc_port: int
    metrics_port: int
    p2p_port: int
    runtime: str = "docker"
    miner: bool = True  # full nodes (us-west) follow the chain without counting toward the quorum

    @property
    def p2p_addr(self):
        return f"{self.ip}:{self.p2p_port}"

    @property
    def rpc_url(self):
        return f"http://{self.ip}:{self.rpc_port}"

    @property
    def health_url(self):
        return f"http://{self.ip}:{self.metrics_port}/health"

    @property
    def metrics_url(self):
        return f"http://{self.ip}:{self.metrics_port}/metrics"

    @property
    def data_dir(self):
        return STATE / "nodes" / self.name

    @property
    def subnet(self):
        return self.ip.rsplit(".", 1)[0] + ".0/24"


@dataclass(frozen=True)
class Fleet:
    nodes: tuple

    @property
    def docker_nodes(self):
        return [node for node in self.nodes if node.runtime == "docker"]

    @property
    def kube_nodes(self):
        return [node for node in self.nodes if node.runtime == "kubernetes"]

    @property
    def regions(self):
        return sorted({node.region for node in self.nodes})

    def node(self, name):
        return next(node for node in self.nodes if node.name == name)

    def in_region(self, region):
        return [node for node in self.nodes if node.region == region]

    def region_subnet(self, region):
        subnets = {node.subnet for node in self.in_region(region)}
        if len(subnets) != 1:
            raise ValueError(f"region {region} spans {sorted(subnets)}; the lab needs one /24 per region")
        return subnets.pop()

    def bootstrap_for(self, node):
        return [peer.p2p_addr for peer in self.nodes if peer.name != node.name]

    @property
    def miners(self):
        return [node.name for node in self.nodes if node.miner]


def load(inventory=INVENTORY):
    """Read the BitCell nodes, their regions and runtimes from the lab inventory."""
    data = yaml.safe_load(Path(inventory).read_text())
    groups = data["all"]["children"]
    region_of = {}
    for group in groups.values():
        region = ((group or {}).get("vars") or {}).get("chainops_region")
        for host in ((group or {}).get("hosts") or {}):
            if region:
                region_of[host] = region
    nodes = []
    for name, hostvars in groups["bitcell_nodes"]["hosts"].items():
        nodes.append(Node(name=name, region=region_of[name], ip=hostvars["chainops_node_ip"],
                          rpc_port=int(hostvars["chainops_rpc_port"]),
                          metrics_port=int(hostvars["chainops_metrics_port"]),
                          p2p_port=int(hostvars["chainops_p2p_port"]),
                          runtime=hostvars.get("chainops_runtime", "docker"),
                          miner=bool(hostvars.get("chainops_miner", True))))
    return Fleet(tuple(nodes))
