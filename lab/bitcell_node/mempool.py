# SPDX-License-Identifier: GPL-3.0-or-later
"""Pending transactions: dedup by hash, highest fee first, a fee floor and a size cap."""
from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict

from .chain import HEX_RE, canonical_json, sha256_hex

MAX_DATA_HEX = 128 * 1024
MAX_FROM_LEN = 128
RECENT_INCLUDED = 100_000

ADDED, KNOWN, UNDERPRICED, FULL = "added", "known", "underpriced", "full"


class TxError(ValueError):
    """A transaction that is not {from, nonce, fee, data}."""


def normalize_tx(raw):
    """Validate a transaction and return it in canonical form (lower-case hex data, no 0x)."""
    if not isinstance(raw, dict):
        raise TxError("transaction must be an object {from, nonce, fee, data}")
    missing = [k for k in ("from", "nonce", "fee", "data") if k not in raw]
    if missing:
        raise TxError(f"transaction is missing {', '.join(missing)}")
    extra = sorted(set(raw) - {"from", "nonce", "fee", "data"})
    if extra:
        raise TxError(f"unexpected transaction field(s) {', '.join(extra)}")
    sender, nonce, fee, data = raw["from"], raw["nonce"], raw["fee"], raw["data"]
    if not isinstance(sender, str) or not sender or len(sender) > MAX_FROM_LEN:
        raise TxError("from must be a non-empty string")
    for name, value in (("nonce", nonce), ("fee", fee)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TxError(f"{name} must be a non-negative integer")
    if not isinstance(data, str):
        raise TxError("data must be a hex string")
    data = data[2:] if data[:2] in ("0x", "0X") else data
    data = data.lower()
    if len(data) > MAX_DATA_HEX or not HEX_RE.match(data):
        raise TxError(f"data must be hex (at most {MAX_DATA_HEX // 2} bytes)")
    return {"from": sender, "nonce": nonce, "fee": fee, "data": data}


def tx_hash(tx):
    return sha256_hex(canonical_json(tx))


class Mempool:
    def __init__(self, min_fee=0, max_pending=100_000):
        self.min_fee = min_fee
        self.max_pending = max_pending
        self._txs = {}                      # hash -> (tx, fee, seq)
        self._low = []                      # min-heap of (fee, -seq, hash); stale entries skipped
        self._seq = itertools.count()
        self._included = OrderedDict()      # recently mined hashes, so gossip does not revive them

    def __len__(self):
        return len(self._txs)

    def __contains__(self, tx_hash_):
        return tx_hash_ in self._txs

    def add(self, tx):
        """Add a normalized tx; returns (status, hash). Evicts the cheapest tx when full."""
        digest = tx_hash(tx)
        if digest in self._txs or digest in self._included:
            return KNOWN, digest
        fee = tx["fee"]
        if fee < self.min_fee:
            return UNDERPRICED, digest
        if len(self._txs) >= self.max_pending:
            cheapest = self._peek_lowest()
            if cheapest is None or fee <= cheapest[0]:
                return FULL, digest
            self._evict(1)
        seq = next(self._seq)
        self._txs[digest] = (tx, fee, seq)
        heapq.heappush(self._low, (fee, -seq, digest))
        return ADDED, digest

    def select(self, limit):
        """Up to `limit` txs for a block: highest fee first, earlier arrival first on ties."""
        best = heapq.nsmallest(limit, self._txs.items(), key=lambda item: (-item[1][1], item[1][2]))
        return [{"hash": digest, "fee": fee} for digest, (_tx, fee, _seq) in best]

    def remove_included(self, entries):
        """Forget txs that made it into a block (ours or a peer's)."""
        for entry in entries:
            digest = entry["hash"]
            self._txs.pop(digest, None)
            self._included[digest] = None
        while len(self._included) > RECENT_INCLUDED:
            self._included.popitem(last=False)
        self._compact_heap()

    def set_limits(self, min_fee=None, max_pending=None):
        """Apply new limits at runtime; drops txs below the new floor, evicts over the cap.
        Returns how many txs were dropped."""
        dropped = 0
        if min_fee is not None:
            self.min_fee = min_fee
            below = [digest for digest, (_tx, fee, _seq) in self._txs.items() if fee < min_fee]
            for digest in below:
                del self._txs[digest]
            dropped += len(below)
        if max_pending is not None:
            self.max_pending = max_pending
        self._compact_heap(force=dropped > 0)
        excess = len(self._txs) - self.max_pending
        if excess > 0:
            dropped += self._evict(excess)
        return dropped

    def _peek_lowest(self):
        while self._low:
            fee, neg_seq, digest = self._low[0]
            entry = self._txs.get(digest)
            if entry is not None and entry[2] == -neg_seq:
                return fee, digest
            heapq.heappop(self._low)
        return None

    def _evict(self, count):
        evicted = 0
        while evicted < count and self._peek_lowest() is not None:
            _fee, _neg_seq, digest = heapq.heappop(self._low)
            del self._txs[digest]
            evicted += 1
        return evicted

    def _compact_heap(self, force=False):
        if force or len(self._low) > 2 * len(self._txs) + 1024:
            self._low = [(fee, -seq, digest) for digest, (_tx, fee, seq) in self._txs.items()]
            heapq.heapify(self._low)
