# SPDX-License-Identifier: GPL-3.0-or-later
"""config.toml parsing, environment overrides and the FATAL exit on a bad configuration."""
from __future__ import annotations

import pytest

from bitcell_harness import run_cli, write_config
from bitcell_node.config import DEFAULT_PROOF_WORK, Config, ConfigError, data_dir_from_env, load_config, split_addr

FULL = """
node_id = "us-east-1"
region = "us-east"
listen_ip = "127.0.1.1"
rpc_port = 8546
metrics_port = 9102
p2p_port = 30302
bootstrap_nodes = ["127.0.1.2:30301", "127.0.2.1:30301"]
miners = ["us-east-1", "us-east-2", "eu-west-1"]
block_interval = 1.5
proof_work = 100
min_peers = 2
max_txs_per_block = 20
mempool_max = 500
min_fee = 3
bootstrap_window = 30
chain_id = 42
"""


def config_from(tmp_path, text, env=None):
    (tmp_path / "config.toml").write_text(text)
    return load_config(tmp_path, env or {})


def test_full_file(tmp_path):
    cfg = config_from(tmp_path, FULL)
    assert cfg == Config(node_id="us-east-1", region="us-east", listen_ip="127.0.1.1", rpc_port=8546, metrics_port=9102,
                         p2p_port=30302, bootstrap_nodes=("127.0.1.2:30301", "127.0.2.1:30301"),
                         miners=("us-east-1", "us-east-2", "eu-west-1"), block_interval=1.5, proof_work=100,
                         min_peers=2, max_txs_per_block=20, mempool_max=500, min_fee=3, bootstrap_window=30.0,
                         chain_id=42)
    assert cfg.p2p_addr == "127.0.1.1:30302"


def test_defaults(tmp_path):
    cfg = config_from(tmp_path, 'node_id = "solo"\n')
    assert (cfg.listen_ip, cfg.rpc_port, cfg.metrics_port, cfg.p2p_port) == ("127.0.0.1", 8545, 9101, 30301)
    assert cfg.miners == ("solo",) and cfg.bootstrap_nodes == ()
    assert (cfg.block_interval, cfg.proof_work, cfg.min_peers, cfg.max_txs_per_block) == (2.0, DEFAULT_PROOF_WORK, 1, 50)
    assert (cfg.mempool_max, cfg.min_fee, cfg.bootstrap_window, cfg.chain_id) == (100000, 0, 60.0, 1337)


def test_environment_wins(tmp_path):
    env = {"NODE_ID": "eu-west-1", "REGION": "eu-west", "LISTEN_IP": "127.0.3.1", "RPC_PORT": "1111",
           "METRICS_PORT": "2222", "P2P_PORT": "3333", "BOOTSTRAP_NODES": " 127.0.1.1:30301, ,127.0.1.2:30301 ",
           "MINERS": "a,b,a", "BLOCK_INTERVAL": "0.25", "PROOF_WORK": "7"}
    cfg = config_from(tmp_path, FULL, env)
    assert (cfg.node_id, cfg.region, cfg.listen_ip) == ("eu-west-1", "eu-west", "127.0.3.1")
    assert (cfg.rpc_port, cfg.metrics_port, cfg.p2p_port) == (1111, 2222, 3333)
    assert cfg.bootstrap_nodes == ("127.0.1.1:30301", "127.0.1.2:30301")
    assert cfg.miners == ("a", "b") and cfg.block_interval == 0.25 and cfg.proof_work == 7
    assert cfg.min_fee == 3                           # from the file: no environment variable for it
    assert config_from(tmp_path, FULL, {"BOOTSTRAP_NODES": ""}).bootstrap_nodes == ()


def test_no_file_but_environment(tmp_path):
    cfg = load_config(tmp_path, {"NODE_ID": "n9"})
    assert cfg.node_id == "n9" and cfg.miners == ("n9",)
    assert data_dir_from_env({}).as_posix() == "/data/bitcell"
    assert data_dir_from_env({"BITCELL_DATA_DIR": "/x"}).as_posix() == "/x"


@pytest.mark.parametrize("text, env, message", [
    ('node_id = "a"\nrpc_port = \n', {}, "config.toml: invalid TOML"),
    ('node_id = "a"\nrpc_port = "8545"\n', {}, "config.toml: rpc_port: expected an integer"),
    ('node_id = "a"\nrpc_port = true\n', {}, "config.toml: rpc_port: expected an integer"),
    ('node_id = "a"\np2p_port = 70000\n', {}, "config.toml: p2p_port: must be <= 65535"),
    ('node_id = "a"\nblock_interval = 0\n', {}, "config.toml: block_interval: must be > 0"),
    ('node_id = "a"\nbootstrap_nodes = "x:1"\n', {}, "config.toml: bootstrap_nodes: expected a list"),
    ('node_id = "a"\nbootstrap_nodes = ["nohost"]\n', {}, "config.toml: bootstrap_nodes:"),
    ('node_id = "a"\nlisten_ip = "localhost"\n', {}, "config.toml: listen_ip: 'localhost' is not an IP address"),
    ('node_id = "a"\nbogus = 1\n', {}, "config.toml: unknown key(s): bogus"),
    ('region = "x"\n', {}, "config.toml: node_id is required"),
    ('node_id = "bad id"\n', {}, "config.toml: node_id: expected an id"),
    ('node_id = "a"\nrpc_port = 9101\n', {}, "must differ"),
    ('node_id = "a"\n', {"RPC_PORT": "abc"}, "environment RPC_PORT: expected an integer, got 'abc'"),
])
def test_invalid(tmp_path, text, env, message):
    with pytest.raises(ConfigError) as err:
        config_from(tmp_path, text, env)
    assert message in str(err.value)


def test_split_addr():
    assert split_addr("127.0.0.1:30301") == ("127.0.0.1", 30301)
    assert split_addr("[::1]:5") == ("::1", 5)
    assert split_addr("node-us-west-1:30301") == ("node-us-west-1", 30301)
    for bad in ("127.0.0.1", ":1", "h:0", "h:x"):
        with pytest.raises(ValueError):
            split_addr(bad)


def test_run_with_bad_toml_exits_2(tmp_path):
    (tmp_path / "config.toml").write_text('node_id = "n1"\nrpc_port = [\n')
    result = run_cli("run", data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("FATAL: config.toml: invalid TOML")


def test_run_with_bad_port_exits_2(tmp_path):
    write_config(tmp_path, {"node_id": "n1", "metrics_port": "ninety"})
    result = run_cli(data_dir=tmp_path)               # `run` is the default command
    assert result.returncode == 2
    assert result.stderr.strip() == "FATAL: config.toml: metrics_port: expected an integer, got 'ninety'"
