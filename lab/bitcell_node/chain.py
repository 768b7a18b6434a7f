# SPDX-License-Identifier: GPL-3.0-or-later
"""Blocks, hashing and the block database on disk (db-check and prune included).

Layout under the data directory:

    db/blocks/<height:012d>.json   one block per file, written atomically (tmp + rename)
    db/PRUNED                      optional: blocks 0 < h < <this height> may be missing
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

ZERO_HASH = "0" * 64
HEADER_FIELDS = ("height", "parent", "miner", "timestamp", "slot", "txs", "proof", "payload")
MAX_PAYLOAD_HEX = 64 * 1024
MAX_BLOCK_TXS = 10_000
STARTUP_VERIFY_DEPTH = 200
_FILE_RE = re.compile(r"^(\d{12})\.json$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")          # lower-case hex bytes, no 0x


def canonical_json(obj):
    """The bytes every hash in BitCell is taken over: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class BlockError(ValueError):
    """A block that is malformed or whose hash does not match its contents."""


class CorruptionError(Exception):
    def __init__(self, height, reason):
        super().__init__(f"block {height}: {reason}")
        self.height = height
        self.reason = reason


class NoDatabase(Exception):
    """There is no block database in the data directory."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Block:
    height: int
    parent: str
    miner: str
    timestamp: float
    slot: int
    txs: list
    proof: str
    payload: str
    hash: str = ""

    def header(self):
        return {name: getattr(self, name) for name in HEADER_FIELDS}

    def to_dict(self):
        return {**self.header(), "hash": self.hash}

    @staticmethod
    def compute_hash(header):
        return sha256_hex(canonical_json(header))

    @classmethod
    def create(cls, **header):
        block = cls(**header)
        block.hash = cls.compute_hash(block.header())
        return block

    @classmethod
    def from_dict(cls, data):
        """Validate a block received from a peer or read from disk; raises BlockError."""
        if not isinstance(data, dict):
            raise BlockError("not a JSON object")
        missing = [name for name in (*HEADER_FIELDS, "hash") if name not in data]
        if missing:
            raise BlockError(f"missing field(s) {', '.join(missing)}")
        extra = sorted(set(data) - {*HEADER_FIELDS, "hash"})
        if extra:
            raise BlockError(f"unexpected field(s) {', '.join(extra)}")
        if not _is_int(data["height"]) or data["height"] < 0:
            raise BlockError("height is not a non-negative integer")
        for name in ("parent", "proof", "hash"):
            if not isinstance(data[name], str) or not _HEX64_RE.match(data[name]):
                raise BlockError(f"{name} is not a sha256 hex digest")
        if not isinstance(data["miner"], str) or not data["miner"]:
            raise BlockError("miner is not a non-empty string")
        if isinstance(data["timestamp"], bool) or not isinstance(data["timestamp"], (int, float)):
            raise BlockError("timestamp is not a number")
        if not _is_int(data["slot"]):
            raise BlockError("slot is not an integer")
        if not isinstance(data["payload"], str) or len(data["payload"]) > MAX_PAYLOAD_HEX or not HEX_RE.match(data["payload"]):
            raise BlockError("payload is not hex")
        txs = data["txs"]
        if not isinstance(txs, list) or len(txs) > MAX_BLOCK_TXS:
            raise BlockError("txs is not a list")
        for tx in txs:
            if (not isinstance(tx, dict) or set(tx) != {"hash", "fee"} or not isinstance(tx["hash"], str)
                    or not _HEX64_RE.match(tx["hash"]) or not _is_int(tx["fee"]) or tx["fee"] < 0):
                raise BlockError("txs entries must be {hash, fee}")
        block = cls(**{name: data[name] for name in (*HEADER_FIELDS, "hash")})
        if cls.compute_hash(block.header()) != block.hash:
            raise BlockError("hash mismatch (contents do not hash to the recorded block hash)")
        return block


def genesis_block(chain_id):
    """Height 0, identical on every node of a chain: derived from chain_id only."""
    return Block.create(height=0, parent=ZERO_HASH, miner="genesis", timestamp=0, slot=0, txs=[],
                        proof=ZERO_HASH, payload=sha256_hex(f"bitcell genesis chain_id={chain_id}".encode()))


def is_disk_full(err):
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def write_atomic(path, data, mode=0o644):
    """Write bytes to `path` through a temporary file and a rename; no partial files remain."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    os.replace(tmp, path)


class BlockStore:
    """The block files of one data directory. Stateless: safe next to a running node."""

    def __init__(self, data_dir):
        self.db_dir = Path(data_dir) / "db"
        self.blocks_dir = self.db_dir / "blocks"
        self.marker = self.db_dir / "PRUNED"

    def exists(self):
        return self.blocks_dir.is_dir()

    def path(self, height):
        return self.blocks_dir / f"{height:012d}.json"

    def heights(self):
        try:
            names = os.listdir(self.blocks_dir)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in map(_FILE_RE.match, names) if m)

    def read(self, height):
        """The block at `height`, None if its file is missing; raises BlockError if unusable."""
        try:
            raw = self.path(height).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise BlockError(f"unreadable: {err.strerror or err}") from None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BlockError(f"invalid JSON: {err}") from None
        block = Block.from_dict(data)
        if block.height != height:
            raise BlockError(f"file holds height {block.height}")
        return block

    def write(self, block):
        self.blocks_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path(block.height), canonical_json(block.to_dict()) + b"\n")

    def delete(self, height):
        """Remove a block file; returns the bytes freed (0 if it was already gone)."""
        path = self.path(height)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def pruned_below(self):
        try:
            text = self.marker.read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return 0
        return int(text) if text.isdigit() else 0

    def set_pruned_below(self, height):
        self.db_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.marker, f"{height}\n".encode())

    def size_bytes(self):
        total = 0
        for base in (self.db_dir, self.blocks_dir):
            try:
                with os.scandir(base) as entries:
                    for entry in entries:
                        try:
                            if entry.is_file(follow_symlinks=False):
                                total += entry.stat(follow_symlinks=False).st_size
                        except OSError:
                            pass
            except FileNotFoundError:
                pass
        return total


@dataclass
class ScanResult:
    verified: int = 0
    low: int | None = None
    high: int | None = None
    pruned_below: int = 0
    problems: list = field(default_factory=list)   # [(height, reason)], ascending
    blocks: dict = field(default_factory=dict)     # height -> Block, every block that verified


def scan(store, genesis=None, depth=None):
    """Verify block files: hash, height, parent linkage and contiguity above the PRUNED marker.

    `depth` limits the check to the most recent `depth` heights (the start-up check);
    `genesis`, when given, must match the block at height 0.
    """
    present = store.heights()
    result = ScanResult(pruned_below=store.pruned_below())
    if not present:
        return result
    result.low, result.high = present[0], present[-1]
    low = 0 if depth is None else max(0, result.high - depth + 1)
    required = set(range(max(low, result.pruned_below, 1), result.high + 1))
    if low == 0:
        required.add(0)
    previous = None
    for height in sorted(required.union(h for h in present if h >= low)):
        try:
            block = store.read(height)
        except BlockError as err:
            result.problems.append((height, str(err)))
            continue
        if block is None:
            result.problems.append((height, "block file missing"))
            continue
        if height == 0 and genesis is not None and block.hash != genesis.hash:
            result.problems.append((height, "genesis block does not match this chain_id"))
            continue
        linked = previous is None or previous.height != height - 1 or block.parent == previous.hash
        previous = block                  # intact even if it does not link: the next block links to it
        if not linked:
            result.problems.append((height, f"parent hash does not match block {height - 1}"))
            continue
        result.verified += 1
        result.blocks[height] = block
    return result


@dataclass
class PruneResult:
    removed: int
    freed: int
    pruned_below: int
    head: int


def prune(data_dir, keep_recent):
    """Delete block files below head - keep_recent (never genesis, never the head).

    The PRUNED marker is written first, so an interrupted prune leaves only holes the
    marker already allows. On a full disk there is no room even for the marker, so the
    oldest doomed blocks are removed first to make room for it.
    """
    if keep_recent < 1:
        raise ValueError("keep_recent must be >= 1")
    store = BlockStore(data_dir)
    heights = store.heights()
    if not heights:
        raise NoDatabase(f"no block database in {store.blocks_dir}")
    head = heights[-1]
    old_marker = store.pruned_below()
    cutoff = max(old_marker, head - keep_recent)
    doomed = [h for h in heights if 0 < h < cutoff]
    freed = 0
    if cutoff > old_marker:
        while True:
            try:
                store.set_pruned_below(cutoff)
                break
            except OSError as err:
                if not is_disk_full(err) or not doomed:
                    raise
                for height in doomed[:16]:
                    freed += store.delete(height)
                doomed = doomed[16:]
    for height in doomed:
        freed += store.delete(height)
    removed = len([h for h in heights if 0 < h < cutoff])
    return PruneResult(removed=removed, freed=freed, pruned_below=cutoff, head=head)


class Chain:
    """The node's view of its chain: the head in memory, recent blocks cached, the rest on disk."""

    CACHE_DEPTH = 256

    def __init__(self, data_dir, chain_id):
        self.store = BlockStore(data_dir)
        self.genesis = genesis_block(chain_id)
        self.head = self.genesis
        self._cache = {0: self.genesis}
        self._genesis_written = False
        self._pruned, self._pruned_checked = 0, float("-inf")

    @property
    def height(self):
        return self.head.height

    def load(self):
        """Load and verify the chain on disk; raises CorruptionError, or OSError writing genesis."""
        for name in os.listdir(self.store.blocks_dir) if self.store.exists() else ():
            if name.endswith(".tmp"):
                os.unlink(self.store.blocks_dir / name)
        if not self.store.heights():
            self.store.write(self.genesis)
            self._genesis_written = True
            return
        try:
            stored = self.store.read(0)
        except BlockError as err:
            raise CorruptionError(0, str(err)) from None
        if stored is None or stored.hash != self.genesis.hash:
            raise CorruptionError(0, "genesis block missing" if stored is None else "genesis block does not match this chain_id")
        result = scan(self.store, genesis=self.genesis, depth=STARTUP_VERIFY_DEPTH)
        if result.problems:
            raise CorruptionError(*result.problems[0])
        self._cache = dict(result.blocks)
        self._cache[0] = self.genesis
        self.head = result.blocks[result.high]
        self._genesis_written = True

    def pruned_below(self):
        """The PRUNED marker, re-read at most once a second (`prune` runs in another process)."""
        now = time.monotonic()
        if now - self._pruned_checked > 1.0:
            self._pruned, self._pruned_checked = self.store.pruned_below(), now
        return self._pruned

    def block(self, height):
        """The block at `height` of our chain, or None (unknown, pruned or unreadable)."""
        if height < 0 or height > self.head.height or 0 < height < self.pruned_below():
            return None
        cached = self._cache.get(height)
        if cached is not None:
            return cached
        try:
            return self.store.read(height)
        except BlockError:
            return None

    def hash_at(self, height):
        block = self.block(height)
        return block.hash if block else None

    def append(self, block):
        """Write `block` as the new head; raises ValueError if it does not extend it, OSError on I/O."""
        if block.height != self.head.height + 1 or block.parent != self.head.hash:
            raise ValueError(f"block {block.height} does not extend head {self.head.height}")
        if not self._genesis_written:         # load() could not write it (full disk)
            self.store.write(self.genesis)
            self._genesis_written = True
        self.store.write(block)
        self._set_head(block)

    def rollback(self, height):
        """Drop our blocks above `height` (top down, so the disk always holds a prefix)."""
        base = self.block(height)
        if base is None:
            raise ValueError(f"cannot roll back to unavailable block {height}")
        for h in range(self.head.height, height, -1):
            self.store.delete(h)
            self._cache.pop(h, None)
        self.head = base

    def restart_from(self, anchor):
        """Adopt `anchor` as our head without its history (the peer pruned it): it becomes our
        PRUNED marker and every block we had above genesis goes away."""
        self.store.set_pruned_below(anchor.height)
        self._pruned, self._pruned_checked = anchor.height, time.monotonic()
        for height in self.store.heights():
            if height > 0:
                self.store.delete(height)
        self._cache = {0: self.genesis}
        self.store.write(anchor)
        self._set_head(anchor)

    def _set_head(self, block):
        self.head = block
        self._cache[block.height] = block
        self._cache.pop(block.height - self.CACHE_DEPTH, None)

    def locator(self):
        """[[height, hash], ...] from our head back to genesis at growing steps (peers find the fork)."""
        entries, height, step = [], self.head.height, 1
        while height > 0:
            block_hash = self.hash_at(height)
            if block_hash is None:
                break
            entries.append([height, block_hash])
            if len(entries) >= 8:
                step *= 2
            height -= step
        entries.append([0, self.genesis.hash])
        return entries

    def blocks_from(self, start, count):
        """Up to `count` consecutive blocks from `start`; skips forward over pruned history."""
        pruned = self.pruned_below()
        start = pruned if 0 < start < pruned else max(start, 0)
        blocks = []
        for height in range(start, min(self.head.height, start + count - 1) + 1):
            block = self.block(height)
            if block is None:
                break
            blocks.append(block)
        return blocks
