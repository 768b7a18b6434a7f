# SPDX-License-Identifier: GPL-3.0-or-later
"""Real node processes peering over loopback: progress, faults and the runbook's repairs."""
from __future__ import annotations

import json
import signal
import time

import pytest

from bitcell_harness import NodeProcess, flip_byte, http_post, wait_until

MINERS = ["n1", "n2", "n3", "n4"]
INTERVAL = 0.5

pytestmark = pytest.mark.slow


def describe(nodes):
    return ", ".join(f"{n.node_id}: height={n.height()} peers={n.peer_count()}" for n in nodes)


def heights(nodes):
    return [n.height() for n in nodes]


def wait_agree(nodes, timeout):
    """Wait until all nodes answer within 2 blocks of each other and share the block below the lowest head."""
    def agreed():
        hs = heights(nodes)
        if None in hs or max(hs) - min(hs) > 2:
            return False
        common = min(hs) - 1
        hashes = {n.block_hash(common) for n in nodes}
        return len(hashes) == 1 and common
    return wait_until(agreed, timeout, message=f"heights to agree ({describe(nodes)})")


def wait_growth(nodes, blocks, timeout):
    start = max(h or 0 for h in heights(nodes))
    return wait_until(lambda: min(h or 0 for h in heights(nodes)) >= start + blocks, timeout,
                      message=f"{blocks} more blocks ({describe(nodes)})")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("bitcell-cluster")
    nodes = [NodeProcess(root, f"n{i}", f"127.0.9.{i}", region="r1" if i <= 2 else "r2", miners=MINERS,
                         block_interval=INTERVAL, proof_work=300) for i in range(1, 5)]
    for node in nodes:
        node.config["bootstrap_nodes"] = [other.p2p_addr for other in nodes if other is not node]
    try:
        for node in nodes:
            node.start()
        wait_until(lambda: all(n.peer_count() == 3 for n in nodes), 15, message="a full mesh")
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def healthy(cluster):
    """Every test starts from (and tries to leave) four running, fully peered nodes."""
    for node in cluster:
        if not node.running():
            node.start()
    wait_until(lambda: all(n.peer_count() == 3 for n in cluster), 15, message=f"a full mesh ({describe(cluster)})")
    yield cluster
    for node in cluster:
        if node.running():
            node.cli("admin", "unban", "--all")


def test_chain_progresses_and_heights_agree(healthy):
    wait_growth(healthy, 8, 10)
    wait_agree(healthy, 5)
    for node in healthy:
        status, body = node.health()
        assert status == 200 and body["status"] == "ok" and body["peers"] == 3
        assert node.metric("bitcell_active_miners") == 4
        assert node.metric("bitcell_dht_peers") == 3
        assert node.metric("bitcell_proof_gen_time_seconds") > 0 or node.metric("bitcell_blocks_produced_total") == 0
        assert node.metric("bitcell_db_size_bytes") > 0
    info = healthy[0].rpc("bitcell_nodeInfo")
    assert sorted(p["id"] for p in info["peers"]) == ["n2", "n3", "n4"]
    assert {p["addr"] for p in info["peers"]} == {n.p2p_addr for n in healthy[1:]}
    top = healthy[0].height()
    miners = {healthy[0].rpc("eth_getBlockByNumber", [hex(h), False])["miner"] for h in range(top - 7, top + 1)}
    assert miners == set(MINERS)                      # every miner had its slots
    assert "produced block height=" in "".join(n.log() for n in healthy)


def test_transactions_are_gossiped_and_mined(healthy):
    tx_hash = healthy[0].rpc("bitcell_sendTransaction", [{"from": "alice", "nonce": 1, "fee": 3, "data": "0xbeef"}])

    def mined_everywhere():
        return all(n.metric("bitcell_txs_processed_total") >= 1 and n.metric("bitcell_pending_txs") == 0
                   for n in healthy)
    wait_until(mined_everywhere, 10, message="the tx to be mined on every node")
    found = [healthy[3].rpc("eth_getBlockByNumber", [hex(h), False])["transactions"]
             for h in range(1, healthy[3].height() + 1)]
    assert any(tx_hash in txs for txs in found)


def test_banning_two_miners_halts_and_unban_resumes(healthy):
    for node in healthy:
        result = node.cli("admin", "ban", "n3", "n4")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["banned"] == ["n3", "n4"]
    assert healthy[0].metric("bitcell_banned_miners") == 2 and healthy[0].metric("bitcell_active_miners") == 2
    time.sleep(1.0)                                   # a block may still be in flight
    before = heights(healthy)
    time.sleep(4 * INTERVAL + 0.5)
    assert heights(healthy) == before, "the chain must halt without a 2/3 quorum of miners"
    assert "no quorum: active_miners=2 of 4" in healthy[0].log()

    for node in healthy:
        result = node.cli("admin", "unban", "--all")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["banned"] == []
    wait_growth(healthy, 3, 8)


def test_admin_needs_the_token(healthy):
    url = f"http://{healthy[0].ip}:{healthy[0].metrics_port}/admin/status"
    assert http_post(url, {})[0] == 401
    assert http_post(url, {}, headers={"Authorization": "Bearer nope"})[0] == 401
    token = (healthy[0].data_dir / "admin.token").read_text().strip()
    assert (healthy[0].data_dir / "admin.token").stat().st_mode & 0o777 == 0o600
    status, body = http_post(url, {}, headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["node_id"] == "n1"


def test_one_node_down_keeps_the_chain_going_and_restart_resyncs(healthy):
    survivors, victim = healthy[:3], healthy[3]
    victim.stop(signal.SIGKILL)
    wait_until(lambda: all(n.peer_count() == 2 for n in survivors), 8, message="peers to notice the dead node")
    assert "peer lost id=n4" in survivors[0].log()
    wait_growth(survivors, 4, 8)                      # 3 of 4 miners are more than 2/3
    assert all(n.health()[0] == 200 for n in survivors)
    assert all(n.metric("bitcell_active_miners") == 3 for n in survivors)

    victim.start()                                    # dials its bootstrap list: everyone peers again
    wait_until(lambda: all(n.peer_count() == 3 for n in healthy), 10, message=f"re-peering ({describe(healthy)})")
    wait_agree(healthy, 10)
    assert wait_until(lambda: victim.health()[0] == 200, 5, message="the restarted node to be healthy")


def test_corrupt_database_is_fatal_and_resync_from_empty_db(healthy):
    victim = healthy[3]
    assert victim.stop() == 0                         # SIGTERM: a clean shutdown
    blocks = victim.data_dir / "db" / "blocks"
    head_file = sorted(blocks.iterdir())[-1]
    flip_byte(head_file)
    victim.start()
    assert victim.wait_exit(10) == 3
    height = int(head_file.name.split(".")[0])
    assert f"FATAL: state corruption detected at block {height}: hash mismatch" in victim.log()
    check = victim.cli("db-check")
    assert check.returncode == 1 and check.stdout.startswith(f"CORRUPT: block {height}: hash mismatch")

    (victim.data_dir / "db").rename(victim.data_dir / "db.corrupt")   # runbook: move the db aside, resync
    victim.start()
    wait_until(lambda: all(n.peer_count() == 3 for n in healthy), 10, message="re-peering")
    wait_agree(healthy, 10)
    check = victim.cli("db-check")
    assert check.returncode == 0 and check.stdout.startswith("OK: "), check.stdout + check.stderr


def test_heartbeat_timeout_and_no_redial_after_bootstrap_window(tmp_path):
    a = NodeProcess(tmp_path, "a", "127.0.9.5", miners=["a", "b"], block_interval=INTERVAL, bootstrap_window=1)
    b = NodeProcess(tmp_path, "b", "127.0.9.6", miners=["a", "b"], block_interval=INTERVAL, bootstrap_window=1,
                    bootstrap_nodes=[a.p2p_addr])
    a.config["bootstrap_nodes"] = [b.p2p_addr]
    try:
        a.start()
        b.start()
        wait_until(lambda: a.peer_count() == 1 and b.peer_count() == 1, 10, message="a and b to peer")
        wait_until(lambda: "bootstrap window closed" in a.log() and "bootstrap window closed" in b.log(), 5,
                   message="the bootstrap windows to close")
        b.proc.send_signal(signal.SIGSTOP)            # silent, like a DROP rule: only the heartbeat notices
        try:
            wait_until(lambda: a.peer_count() == 0, 9, message="a to drop the silent peer")
            assert "peer lost id=b reason=heartbeat timeout" in a.log()
            assert a.health()[1]["reason"] == "no peers"
        finally:
            b.proc.send_signal(signal.SIGCONT)
        time.sleep(2.5)                               # past the window nobody redials
        assert a.peer_count() == 0 and b.peer_count() == 0
        assert a.health() == (503, {"status": "unhealthy", "reason": "no peers", "height": a.height(), "peers": 0})
        b.stop()
        b.start()                                     # runbook: restart nodes to re-establish connections
        wait_until(lambda: a.peer_count() == 1 and b.peer_count() == 1, 10, message="a and b to peer again")
    finally:
        a.stop()
        b.stop()


def test_env_overrides_a_bad_bootstrap_list(tmp_path):
    a = NodeProcess(tmp_path, "a", "127.0.9.7", miners=["a"], block_interval=INTERVAL)
    b = NodeProcess(tmp_path, "b", "127.0.9.8", miners=["a"], block_interval=INTERVAL,
                    bootstrap_nodes=["127.0.9.99:1"])
    try:
        a.start()
        b.start(env={"BOOTSTRAP_NODES": a.p2p_addr})
        wait_until(lambda: b.peer_count() == 1, 10, message="b to peer through BOOTSTRAP_NODES")
        wait_until(lambda: (b.height() or 0) >= 3 and b.health()[0] == 200, 10, message="b to follow a's chain")
        assert "127.0.9.99" not in b.log()
    finally:
        a.stop()
        b.stop()
