# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's topology comes from inventories/lab, and its CLIs refuse bad input."""
from __future__ import annotations

import subprocess

import pytest

from chainlab import faults, nodes, topology
from helpers.ansible_run import REPO

FLEET = topology.load()


def test_fleet_matches_the_issue():
    assert [n.name for n in FLEET.docker_nodes] == [
        "bitcell-node-us-east-1", "bitcell-node-us-east-2", "bitcell-node-us-east-3",
        "bitcell-node-eu-west-1", "bitcell-node-eu-west-2"]
    assert [n.name for n in FLEET.kube_nodes] == ["bitcell-node-us-west-0", "bitcell-node-us-west-1"]
    assert FLEET.regions == ["eu-west", "us-east", "us-west"]
    assert FLEET.region_subnet("us-east") == "127.0.1.0/24"
    assert FLEET.region_subnet("us-west") == "127.0.3.0/24"


def test_only_docker_nodes_mine_so_the_quorum_is_the_runbooks_five():
    assert FLEET.miners == [n.name for n in FLEET.docker_nodes]
    assert not any(n.miner for n in FLEET.kube_nodes)


def test_nodes_have_distinct_addresses_and_ports():
    for attribute in ("rpc_port", "metrics_port", "p2p_port", "ip"):
        values = [getattr(n, attribute) for n in FLEET.nodes]
        assert len(set(values)) == len(values), attribute


def test_bootstrap_is_every_other_node():
    node = FLEET.node("bitcell-node-us-east-2")
    assert "127.0.1.2:30302" not in FLEET.bootstrap_for(node)
    assert len(FLEET.bootstrap_for(node)) == len(FLEET.nodes) - 1


def test_inventory_urls_agree_with_the_lab():
    """What Ansible resolves for a host is where the lab really serves the node."""
    out = subprocess.run([str(REPO / ".venv/bin/ansible"), "bitcell-node-eu-west-1", "-m", "ansible.builtin.debug",
                          "-a", '{"msg": "{{ chainops_rpc_url }} {{ chainops_health_url }} {{ chainops_region }}"}'],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    node = FLEET.node("bitcell-node-eu-west-1")
    assert f"{node.rpc_url} {node.health_url} eu-west" in out


def test_container_spec_runs_on_host_network_without_pulling():
    spec = nodes.container_spec(FLEET, FLEET.node("bitcell-node-us-east-1"))
    assert spec["network_mode"] == "host"
    assert spec["image"] == "chainops/bitcell-node:lab"
    assert spec["environment"]["BOOTSTRAP_NODES"].count(",") == len(FLEET.nodes) - 2
    override = nodes.container_spec(FLEET, FLEET.node("bitcell-node-us-east-1"), bootstrap=["127.0.9.1:1"])
    assert override["environment"]["BOOTSTRAP_NODES"] == "127.0.9.1:1"


def test_config_toml_is_valid_toml():
    import tomllib

    config = tomllib.loads(nodes.config_toml(FLEET, FLEET.node("bitcell-node-eu-west-2")))
    assert config["node_id"] == "bitcell-node-eu-west-2" and config["listen_ip"] == "127.0.2.2"
    assert config["miners"] == FLEET.miners
    assert "127.0.3.1:30306" in config["bootstrap_nodes"], "miners peer with the us-west full nodes too"


@pytest.mark.parametrize("argv, message", [
    (["nope", "us-east"], "unknown fault 'nope'; valid faults: node-down,"),
    (["node-down", "bitcell-node-mars-1"], "unknown node 'bitcell-node-mars-1'; valid nodes: bitcell-node-us-east-1"),
    (["partition", "ap-south"], "unknown region 'ap-south'; valid regions: eu-west, us-east"),
    (["node-down"], "give <fault> <target>"),
    (["--heal", "cpu-throttle", "nowhere"], "unknown node 'nowhere'"),
])
def test_fault_cli_rejects_bad_input_with_the_choices(argv, message):
    proc = subprocess.run([str(REPO / "lab" / "fault"), *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_fault_list_names_every_fault():
    proc = subprocess.run([str(REPO / "lab" / "fault"), "--list"], capture_output=True, text=True, check=True)
    for name in faults.FAULTS:
        assert name in proc.stdout
    assert set(faults.FAULTS) >= {"node-down", "node-crash-loop", "region-down", "partition", "banned-miners",
                                  "cpu-throttle", "tx-flood", "disk-fill", "db-corrupt", "bad-bootstrap"}


def test_labctl_rejects_unknown_command():
    proc = subprocess.run([str(REPO / "lab" / "labctl"), "explode"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "invalid choice: 'explode'" in proc.stderr
