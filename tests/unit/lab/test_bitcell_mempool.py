# SPDX-License-Identifier: GPL-3.0-or-later
"""Mempool: dedup, fee ordering, fee floor and size cap."""
from __future__ import annotations

import pytest

from bitcell_node.chain import canonical_json, sha256_hex
from bitcell_node.mempool import ADDED, FULL, KNOWN, UNDERPRICED, Mempool, TxError, normalize_tx, tx_hash


def tx(nonce, fee, sender="alice"):
    return normalize_tx({"from": sender, "nonce": nonce, "fee": fee, "data": "0xAB"})


def test_normalize_and_hash():
    normalized = normalize_tx({"from": "a", "nonce": 1, "fee": 2, "data": "0xDeAd"})
    assert normalized == {"from": "a", "nonce": 1, "fee": 2, "data": "dead"}
    assert tx_hash(normalized) == sha256_hex(canonical_json(normalized))
    for bad in ({"from": "a", "nonce": 1, "fee": -1, "data": ""}, {"from": "a", "nonce": True, "fee": 1, "data": ""},
                {"from": "", "nonce": 1, "fee": 1, "data": ""}, {"from": "a", "nonce": 1, "fee": 1, "data": "xyz"},
                {"from": "a", "nonce": 1, "fee": 1}, {"from": "a", "nonce": 1, "fee": 1, "data": "", "to": "b"}, []):
        with pytest.raises(TxError):
            normalize_tx(bad)


def test_dedup_and_fee_ordering():
    pool = Mempool()
    assert pool.add(tx(1, 5))[0] == ADDED
    assert pool.add(tx(1, 5))[0] == KNOWN
    for nonce, fee in ((2, 9), (3, 1), (4, 9), (5, 7)):
        pool.add(tx(nonce, fee))
    fees = [entry["fee"] for entry in pool.select(10)]
    assert fees == [9, 9, 7, 5, 1]
    first_nine = pool.select(1)[0]["hash"]
    assert first_nine == tx_hash(tx(2, 9))          # equal fees: earlier arrival first
    assert len(pool.select(3)) == 3 and len(pool) == 5


def test_included_txs_leave_and_do_not_come_back():
    pool = Mempool()
    pool.add(tx(1, 5))
    pool.add(tx(2, 6))
    pool.remove_included(pool.select(1))
    assert len(pool) == 1
    assert pool.add(tx(2, 6))[0] == KNOWN            # gossip of a mined tx does not revive it


def test_min_fee():
    pool = Mempool(min_fee=3)
    assert pool.add(tx(1, 2))[0] == UNDERPRICED
    assert pool.add(tx(2, 3))[0] == ADDED


def test_max_pending_evicts_cheapest():
    pool = Mempool(max_pending=3)
    for nonce, fee in ((1, 5), (2, 2), (3, 8)):
        pool.add(tx(nonce, fee))
    assert pool.add(tx(4, 2))[0] == FULL             # not better than the cheapest
    assert pool.add(tx(5, 6))[0] == ADDED            # evicts fee 2
    assert sorted(e["fee"] for e in pool.select(10)) == [5, 6, 8]


def test_runtime_limits_drop_and_evict():
    pool = Mempool()
    for nonce in range(10):
        pool.add(tx(nonce, nonce))
    assert pool.set_limits(min_fee=4) == 4 and len(pool) == 6
    assert pool.add(tx(20, 3))[0] == UNDERPRICED
    assert pool.set_limits(max_pending=2) == 4
    assert [e["fee"] for e in pool.select(10)] == [9, 8]
    assert pool.add(tx(21, 100))[0] == ADDED and [e["fee"] for e in pool.select(10)] == [100, 9]


def test_many_evictions_stay_consistent():
    pool = Mempool(max_pending=100)
    for nonce in range(1000):
        pool.add(tx(nonce, nonce % 37))
    assert len(pool) == 100
    kept = [e["fee"] for e in pool.select(100)]
    assert min(kept) >= 33 and kept == sorted(kept, reverse=True)
