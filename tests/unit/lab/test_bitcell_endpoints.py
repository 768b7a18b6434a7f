# SPDX-License-Identifier: GPL-3.0-or-later
"""Metrics exposition, /health verdicts, JSON-RPC and admin handlers, on a node that is not running."""
from __future__ import annotations

import asyncio
import errno
import json
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bitcell_node import metrics
from bitcell_node.admin import AdminAPI
from bitcell_node.chain import Block
from bitcell_node.config import Config
from bitcell_node.http import Request
from bitcell_node.node import Node
from bitcell_node.rpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, SERVER_ERROR


@pytest.fixture
def node(tmp_path):
    cfg = Config(node_id="n1", region='r"1\\', miners=("n1", "n2", "n3", "n4"), min_fee=2, mempool_max=3)
    node = Node(cfg, tmp_path)
    node.chain.load()
    node.state = "running"
    yield node
    node._proof_pool.shutdown()


def rpc(node, method, params=None, **extra):
    return node.rpc.handle_one({"jsonrpc": "2.0", "id": 7, "method": method, "params": params or [], **extra})


def child_block(parent, **changes):
    return Block.create(**{"height": parent.height + 1, "parent": parent.hash, "miner": "n2", "timestamp": 5.0,
                           "slot": 1, "txs": [], "proof": "00" * 32, "payload": "", **changes})


def test_exposition_parses_and_escapes(node):
    text = metrics.render(node.metric_samples())
    families = {family.name: family for family in text_string_to_metric_families(text)}
    expected = {"bitcell_chain_height", "bitcell_peer_count", "bitcell_dht_peers", "bitcell_active_miners",
                "bitcell_banned_miners", "bitcell_proof_gen_time_seconds", "bitcell_pending_txs",
                "bitcell_txs_processed", "bitcell_blocks_produced", "bitcell_last_block_timestamp_seconds",
                "bitcell_syncing", "bitcell_db_size_bytes", "bitcell_disk_free_bytes", "bitcell_disk_total_bytes",
                "bitcell_node_info", "bitcell_start_time_seconds"}
    assert set(families) == expected
    assert families["bitcell_txs_processed"].type == "counter"
    assert families["bitcell_txs_processed"].samples[0].name == "bitcell_txs_processed_total"
    info = families["bitcell_node_info"].samples[0]
    assert info.labels == {"node_id": "n1", "region": 'r"1\\', "version": "0.1.0"} and info.value == 1
    assert 'region="r\\"1\\\\"' in text
    assert families["bitcell_active_miners"].samples[0].value == 1
    assert families["bitcell_disk_total_bytes"].samples[0].value > 0
    assert "# TYPE bitcell_chain_height gauge" in text


def test_render_rejects_unregistered_names():
    with pytest.raises(KeyError):
        metrics.render({"bitcell_bogus": 1})
    assert metrics.render({"bitcell_syncing": float("nan")}) .endswith("bitcell_syncing NaN\n")
    assert metrics.escape_label_value('a\nb"c\\') == 'a\\nb\\"c\\\\'


@pytest.mark.parametrize("kwargs, status, reason", [
    ({"state": "starting"}, 503, "starting"),
    ({"disk_full": True}, 503, "disk full"),
    ({"peers": 0}, 503, "no peers"),
    ({"syncing": True, "height": 10, "best_height": 50}, 503, "syncing: height 10 of 50"),
    ({}, 200, None),
])
def test_health_verdicts(kwargs, status, reason):
    args = {"state": "running", "height": 10, "peers": 2, "min_peers": 1, "syncing": False, "best_height": 10,
            "disk_full": False, **kwargs}
    code, body = metrics.health(**args)
    assert code == status
    assert body == ({"status": "ok", "height": 10, "peers": 2} if status == 200 else
                    {"status": "unhealthy", "reason": reason, "height": args["height"], "peers": args["peers"]})


def test_unpeered_node_is_unhealthy(node):
    assert node.health() == (503, {"status": "unhealthy", "reason": "no peers", "height": 0, "peers": 0})


def test_rpc_basics(node):
    assert rpc(node, "eth_blockNumber") == {"jsonrpc": "2.0", "id": 7, "result": "0x0"}
    assert rpc(node, "eth_chainId")["result"] == "0x539"
    assert rpc(node, "net_version")["result"] == "1337"
    assert rpc(node, "net_peerCount")["result"] == "0x0"
    assert rpc(node, "eth_syncing")["result"] is False
    assert rpc(node, "web3_clientVersion")["result"] == "bitcell-node/0.1.0"
    genesis = rpc(node, "eth_getBlockByNumber", ["0x0", False])["result"]
    assert genesis["hash"] == "0x" + node.chain.genesis.hash and genesis["number"] == "0x0"
    assert rpc(node, "eth_getBlockByNumber", ["latest"])["result"]["number"] == "0x0"
    assert rpc(node, "eth_getBlockByNumber", ["0x99", True])["result"] is None
    info = rpc(node, "bitcell_nodeInfo")["result"]
    assert info == {"node_id": "n1", "region": 'r"1\\', "height": 0, "head_hash": "0x" + node.chain.genesis.hash,
                    "peers": [], "syncing": False, "state": "running"}


def test_rpc_errors(node):
    handle = node.rpc.handle_body
    assert handle(b"{nope")["error"]["code"] == PARSE_ERROR
    assert handle(b"[]")["error"]["code"] == INVALID_REQUEST
    assert handle(b'{"id": 1, "method": "eth_blockNumber"}')["error"]["code"] == INVALID_REQUEST
    assert handle(b"[1]")[0]["error"]["code"] == INVALID_REQUEST
    assert rpc(node, "eth_mine")["error"]["code"] == METHOD_NOT_FOUND
    assert rpc(node, "eth_getBlockByNumber", ["oops"])["error"]["code"] == INVALID_PARAMS
    assert rpc(node, "eth_getBlockByNumber", [])["error"]["code"] == INVALID_PARAMS
    assert rpc(node, "eth_blockNumber", [1])["error"]["code"] == INVALID_PARAMS
    assert handle(b'{"jsonrpc": "2.0", "method": "eth_blockNumber"}') is None       # a notification


def test_rpc_batch(node):
    body = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
                       {"jsonrpc": "2.0", "id": 2, "method": "nope"},
                       {"jsonrpc": "2.0", "method": "eth_chainId"}]).encode()
    replies = node.rpc.handle_body(body)
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[0]["result"] == "0x0" and replies[1]["error"]["code"] == METHOD_NOT_FOUND


def test_rpc_transactions(node):
    tx = {"from": "alice", "nonce": 1, "fee": 5, "data": "0x01"}
    first = rpc(node, "bitcell_sendTransaction", [tx])["result"]
    assert first.startswith("0x") and len(first) == 66
    assert rpc(node, "bitcell_sendTransaction", [tx])["result"] == first        # dedup by hash
    low = rpc(node, "bitcell_sendTransaction", [{**tx, "fee": 1}])["error"]
    assert low["code"] == SERVER_ERROR and "underpriced" in low["message"]
    assert rpc(node, "bitcell_sendTransaction", [{**tx, "fee": "5"}])["error"]["code"] == INVALID_PARAMS
    assert rpc(node, "eth_sendRawTransaction", ["0xdeadbeef"])["error"]["code"] == SERVER_ERROR  # fee 1 < 2
    node.mempool.set_limits(min_fee=0)
    assert rpc(node, "eth_sendRawTransaction", ["0xdeadbeef"])["result"].startswith("0x")
    assert rpc(node, "eth_sendRawTransaction", ["zz"])["error"]["code"] == INVALID_PARAMS
    rpc(node, "bitcell_sendTransaction", [{**tx, "nonce": 2}])
    full = rpc(node, "bitcell_sendTransaction", [{**tx, "nonce": 3, "fee": 1}])["error"]
    assert "mempool full" in full["message"]
    assert node.metric_samples()["bitcell_pending_txs"] == 3


def test_blocks_move_txs_out_of_the_mempool(node):
    rpc(node, "bitcell_sendTransaction", [{"from": "a", "nonce": 1, "fee": 9, "data": ""}])
    block = child_block(node.chain.head, txs=node.mempool.select(10))
    assert node._append(block)
    assert len(node.mempool) == 0 and node.txs_processed == 1
    full = rpc(node, "eth_getBlockByNumber", ["0x1", True])["result"]
    assert full["transactions"] == [{"hash": "0x" + block.txs[0]["hash"], "fee": "0x9"}]


def test_disk_full_stops_appending_and_recovers(node, monkeypatch):
    def no_space(_block):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(node.chain.store, "write", no_space)
    assert not node._append(child_block(node.chain.head))
    assert node.disk_full and node.chain.height == 0
    node.p2p.peers["n2"] = SimpleNamespace(height=0, head="")
    assert node.health() == (503, {"status": "unhealthy", "reason": "disk full", "height": 0, "peers": 1})
    monkeypatch.undo()
    assert node._disk_has_room()
    assert not list(node.chain.store.db_dir.glob(".space-probe*"))


def test_sync_loop_stops_when_cancelled_during_a_wakeup(node):
    """Regression: with asyncio.wait_for, a cancel arriving with a wakeup was swallowed and
    SIGTERM left the node hanging in shutdown."""
    async def scenario():
        task = asyncio.create_task(node._sync_loop())
        await asyncio.sleep(0.01)
        node._sync_wakeup.set()
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=2)
        return bool(done)

    assert asyncio.run(scenario())


def test_admin_handler(node):
    api = AdminAPI(node, "s3cret")

    def call(command, body=None, token="s3cret", method="POST"):
        request = Request(method=method, path=f"/admin/{command}", query="",
                          headers={"authorization": f"Bearer {token}"}, body=json.dumps(body or {}).encode())
        response = asyncio.run(api.handle(request, command))
        return response.status, json.loads(response.body)

    assert call("status", token="wrong")[0] == 401
    assert call("status", method="GET")[0] == 405
    assert call("nope")[0] == 404
    assert call("ban", {"miners": ["n9"]})[0] == 400
    status, body = call("ban", {"miners": ["n3", "n4"]})
    assert status == 200 and body["banned"] == ["n3", "n4"] and body["eligible"] == ["n1", "n2"]
    assert json.loads((node.data_dir / "trust.json").read_text())["banned"] == ["n3", "n4"]
    assert node.metric_samples()["bitcell_banned_miners"] == 2
    assert call("unban", {"miners": ["n3"]})[1]["banned"] == ["n4"]
    assert call("unban", {"all": True})[1]["banned"] == []
    call("ban", {"miners": ["n2"]})
    assert call("reset-trust")[1]["banned"] == []
    assert call("mempool", {})[0] == 400
    assert call("mempool", {"min_fee": -1})[0] == 400
    status, body = call("mempool", {"min_fee": 0, "mempool_max": 10})
    assert status == 200 and body["mempool"] == {"pending": 0, "min_fee": 0, "mempool_max": 10}
