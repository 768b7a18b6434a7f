# SPDX-License-Identifier: GPL-3.0-or-later
"""Blocks, hashing and the on-disk database: db-check and prune included."""
from __future__ import annotations

import json

import pytest

from bitcell_harness import flip_byte, run_cli, write_config
from bitcell_node.chain import (ZERO_HASH, Block, BlockError, BlockStore, Chain, CorruptionError, canonical_json,
                                genesis_block, prune, scan, sha256_hex)


def make_chain(data_dir, length, chain_id=1337):
    """A chain of `length` blocks above genesis, written through Chain.append."""
    chain = Chain(data_dir, chain_id)
    chain.load()
    for dummy in range(length):
        head = chain.head
        chain.append(Block.create(height=head.height + 1, parent=head.hash, miner="m1", timestamp=1000.5 + head.height,
                                  slot=head.height + 1, txs=[{"hash": sha256_hex(b"%d" % head.height), "fee": 3}],
                                  proof="ab" * 32, payload="00" * 1024))
    return chain


def test_canonical_json_is_sorted_compact_ascii():
    assert canonical_json({"b": 1, "a": [1, "é"], "c": {"z": None, "y": 1.5}}) == \
        b'{"a":[1,"\\u00e9"],"b":1,"c":{"y":1.5,"z":null}}'
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_genesis_is_deterministic_per_chain_id():
    assert genesis_block(1337).hash == genesis_block(1337).hash
    assert genesis_block(1337).hash != genesis_block(1338).hash
    genesis = genesis_block(1337)
    assert genesis.height == 0 and genesis.parent == ZERO_HASH
    assert genesis.hash == sha256_hex(canonical_json(genesis.header()))


def test_block_round_trip_and_tamper_detection():
    block = Block.create(height=1, parent=ZERO_HASH, miner="m", timestamp=12.25, slot=3,
                         txs=[{"hash": "ff" * 32, "fee": 7}], proof="01" * 32, payload="abcd")
    data = json.loads(json.dumps(block.to_dict()))
    assert Block.from_dict(data) == block
    with pytest.raises(BlockError, match="hash mismatch"):
        Block.from_dict({**data, "miner": "other"})
    with pytest.raises(BlockError, match="missing"):
        Block.from_dict({k: v for k, v in data.items() if k != "proof"})
    with pytest.raises(BlockError, match="unexpected"):
        Block.from_dict({**data, "extra": 1})
    with pytest.raises(BlockError, match="txs"):
        Block.from_dict({**data, "txs": [{"hash": "zz", "fee": 1}]})


def test_chain_persists_and_reloads(tmp_path):
    chain = make_chain(tmp_path, 5)
    files = sorted(p.name for p in (tmp_path / "db" / "blocks").iterdir())
    assert files == [f"{h:012d}.json" for h in range(6)]
    assert 2048 < (tmp_path / "db" / "blocks" / "000000000003.json").stat().st_size < 4096
    again = Chain(tmp_path, 1337)
    again.load()
    assert again.height == 5 and again.head.hash == chain.head.hash
    assert again.block(3).hash == chain.block(3).hash


def test_startup_check_detects_corruption(tmp_path):
    make_chain(tmp_path, 5)
    flip_byte(tmp_path / "db" / "blocks" / "000000000004.json")
    with pytest.raises(CorruptionError) as err:
        Chain(tmp_path, 1337).load()
    assert err.value.height == 4 and "hash mismatch" in err.value.reason


def test_startup_check_rejects_foreign_genesis(tmp_path):
    make_chain(tmp_path, 2, chain_id=1)
    with pytest.raises(CorruptionError, match="genesis"):
        Chain(tmp_path, 1337).load()


def test_rollback_and_locator(tmp_path):
    chain = make_chain(tmp_path, 40)
    locator = chain.locator()
    heights = [entry[0] for entry in locator]
    assert heights[:8] == list(range(40, 32, -1)) and heights[-1] == 0
    assert heights == sorted(heights, reverse=True) and len(heights) < 20
    assert all(chain.hash_at(h) == digest for h, digest in locator)
    chain.rollback(30)
    assert chain.height == 30 and BlockStore(tmp_path).heights()[-1] == 30


def test_db_check_ok_and_flipped_byte(tmp_path):
    make_chain(tmp_path, 12)
    write_config(tmp_path, {"node_id": "n1"})
    ok = run_cli("db-check", data_dir=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "OK: 13 blocks verified (heights 0..12)"

    flip_byte(tmp_path / "db" / "blocks" / "000000000007.json")
    bad = run_cli("db-check", "--data-dir", tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == ["CORRUPT: block 7: hash mismatch (contents do not hash to the recorded block hash)"]

    (tmp_path / "db" / "blocks" / "000000000009.json").unlink()
    (tmp_path / "db" / "blocks" / "000000000003.json").write_text("{not json")
    lines = run_cli("db-check", data_dir=tmp_path).stdout.splitlines()
    assert [line.split(":")[1] for line in lines] == [" block 3", " block 7", " block 9"]
    assert "invalid JSON" in lines[0] and "missing" in lines[2]


def test_db_check_broken_linkage(tmp_path):
    chain = make_chain(tmp_path, 6)
    store = BlockStore(tmp_path)
    forged = Block.create(**{**chain.block(4).header(), "parent": "cd" * 32})
    store.write(forged)
    result = scan(store)
    assert result.problems == [(4, "parent hash does not match block 3"), (5, "parent hash does not match block 4")]


def test_db_check_without_database(tmp_path):
    result = run_cli("db-check", data_dir=tmp_path / "nothing")
    assert result.returncode == 2 and "no block database" in result.stderr


def test_prune_keeps_recent_genesis_and_head(tmp_path):
    make_chain(tmp_path, 30)
    store = BlockStore(tmp_path)
    result = prune(tmp_path, 10)
    assert (result.removed, result.pruned_below, result.head) == (19, 20, 30)
    assert result.freed > 19 * 2048
    assert store.heights() == [0, *range(20, 31)]
    assert store.pruned_below() == 20
    assert scan(store, genesis=genesis_block(1337)).problems == []
    again = prune(tmp_path, 10)                       # idempotent
    assert (again.removed, again.freed) == (0, 0)
    one = prune(tmp_path, 1)                          # even keep 1 never removes the head
    assert store.heights() == [0, 29, 30] and one.pruned_below == 29

    chain = Chain(tmp_path, 1337)                     # a pruned database still starts
    chain.load()
    assert chain.height == 30 and chain.block(10) is None and chain.block(0) is not None
    assert [b.height for b in chain.blocks_from(1, 5)] == [29, 30]


def test_prune_cli(tmp_path):
    make_chain(tmp_path, 8)
    result = run_cli("prune", "--keep-recent", "3", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pruned 4 blocks below height 5 (head 8, keep-recent 3); freed ")
    check = run_cli("db-check", data_dir=tmp_path)
    assert check.returncode == 0 and "history below height 5 is pruned" in check.stdout
    assert run_cli("prune", "--keep-recent", "0", data_dir=tmp_path).returncode == 2
    assert run_cli("prune", "--keep-recent", "x", data_dir=tmp_path).returncode == 2
    assert run_cli("prune", data_dir=tmp_path / "none").returncode == 2


def test_restart_from_anchor(tmp_path):
    source = make_chain(tmp_path / "a", 20)
    chain = make_chain(tmp_path / "b", 3)
    chain.restart_from(source.block(15))
    assert chain.height == 15 and chain.pruned_below() == 15
    assert BlockStore(tmp_path / "b").heights() == [0, 15]
    chain.append(source.block(16))
    reloaded = Chain(tmp_path / "b", 1337)
    reloaded.load()
    assert reloaded.head.hash == source.block(16).hash
