# SPDX-License-Identifier: GPL-3.0-or-later
"""One BitCell node: chain, mempool, peers, block production, sync and its three servers.

Everything runs on one asyncio event loop; only the proof work runs in a thread.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import __version__, admin, consensus, metrics
from .chain import ZERO_HASH, Block, BlockError, Chain, CorruptionError, canonical_json, is_disk_full, write_atomic
from .http import HTTPServer, Response, json_response
from .mempool import ADDED, Mempool, TxError, normalize_tx
from .p2p import P2P
from .rpc import RPC
from .trust import TrustStore

log = logging.getLogger("bitcell")

PAYLOAD_BYTES = 1024          # hex-encoded: ~2 KiB per block, so the database really grows
SYNC_BATCH = 128
SYNC_TIMEOUT = 5.0
SYNCING_GAP = 2               # more than this many blocks behind the best peer = syncing
MAX_REORG = 200
DISK_PROBE_BYTES = 16 * 1024      # free space needed to leave the disk-full state
SHUTDOWN_TIMEOUT = 3.0


class FatalError(Exception):
    """Stop the process: `FATAL: <message>` on stderr and exit with `code`."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Node:
    def __init__(self, cfg, data_dir):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.state = "starting"
        self.disk_full = False
        self.chain = Chain(self.data_dir, cfg.chain_id)
        self.mempool = Mempool(cfg.min_fee, cfg.mempool_max)
        self.trust = TrustStore(self.data_dir)
        self.p2p = P2P(cfg, self)
        self.rpc = RPC(self)
        self.admin = None
        self.started_at = time.time()
        self.proof_time = 0.0
        self.blocks_produced = 0
        self.txs_processed = 0
        self.db_size = 0
        self._sync_request = None             # (peer, deadline) of the get_blocks in flight
        self._sync_started_at = None          # our height when we fell behind
        self._sync_wakeup = asyncio.Event()
        self._quorum = None
        self._proof_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proof")

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FatalError(1, f"cannot create data directory {self.data_dir}: {err.strerror or err}") from None
        self.admin = admin.AdminAPI(self, admin.ensure_token(self.data_dir))
        servers = [HTTPServer("metrics", self.cfg.listen_ip, self.cfg.metrics_port, self._serve_metrics_port),
                   HTTPServer("rpc", self.cfg.listen_ip, self.cfg.rpc_port, self.rpc.handle_http)]
        await self._listen("metrics", servers[0].start())     # /health says "starting" while we load
        await self._load_chain()
        self.trust.load()
        self.db_size = await asyncio.to_thread(self.chain.store.size_bytes)
        await self._listen("rpc", servers[1].start())
        await self._listen("p2p", self.p2p.start())
        self.state = "running"
        log.info("node started id=%s region=%s version=%s height=%d head=%s p2p=%s rpc=%s:%d metrics=%s:%d miners=%s",
                 self.cfg.node_id, self.cfg.region, __version__, self.chain.height, self.chain.head.hash[:16],
                 self.cfg.p2p_addr, self.cfg.listen_ip, self.cfg.rpc_port, self.cfg.listen_ip, self.cfg.metrics_port,
                 ",".join(self.cfg.miners))
        tasks = [loop.create_task(coro) for coro in (self._producer_loop(), self._sync_loop(), self._housekeeping_loop())]
        await stop.wait()
        log.info("shutting down")
        self.state = "stopping"
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT)
        await self.p2p.close()
        for server in servers:
            await server.close()
        self._proof_pool.shutdown(wait=False, cancel_futures=True)

    async def _listen(self, name, start):
        try:
            await start
        except OSError as err:
            port = {"metrics": self.cfg.metrics_port, "rpc": self.cfg.rpc_port, "p2p": self.cfg.p2p_port}[name]
            raise FatalError(1, f"cannot listen on {self.cfg.listen_ip}:{port} ({name}): {err.strerror or err}") from None

    async def _load_chain(self):
        try:
            await asyncio.to_thread(self.chain.load)
        except CorruptionError as err:
            raise FatalError(3, f"state corruption detected at block {err.height}: {err.reason}") from None
        except OSError as err:
            if not is_disk_full(err):
                raise FatalError(1, f"cannot open the block database in {self.data_dir}: {err}") from None
            self._enter_disk_full("writing the genesis block", err)

    # --- what other modules ask ------------------------------------------------------------------

    def head(self):
        return self.chain.height, self.chain.head.hash

    def eligible(self):
        return consensus.eligible_miners(self.cfg.miners, self.trust.banned)

    def active_miners(self):
        return consensus.active_miners(self.eligible(), self.cfg.node_id, self.p2p.peers)

    def banned_miners(self):
        return sorted(self.trust.banned & set(self.cfg.miners))

    def best_height(self):
        return max([self.chain.height, *(peer.height for peer in self.p2p.peers.values())])

    def syncing(self):
        return self.best_height() - self.chain.height > SYNCING_GAP

    def sync_status(self):
        """eth_syncing: None when synced, else starting/current/highest block."""
        if not self.syncing():
            return None
        start = self._sync_started_at if self._sync_started_at is not None else self.chain.height
        return {"startingBlock": start, "currentBlock": self.chain.height, "highestBlock": self.best_height()}

    def peer_ahead(self, peer):
        """Is the peer's chain better than ours: longer, or as long with a lower head hash?"""
        height, head = self.chain.height, self.chain.head.hash
        return peer.height > height or (peer.height == height and bool(peer.head) and peer.head < head)

    def info(self):
        return {"node_id": self.cfg.node_id, "region": self.cfg.region, "height": self.chain.height,
                "head_hash": "0x" + self.chain.head.hash,
                "peers": [{"id": p.node_id, "region": p.region, "addr": p.listen} for p in self.p2p.peers.values()],
                "syncing": self.syncing(), "state": "disk full" if self.disk_full else self.state}

    def status(self):
        active = self.active_miners()
        return {**self.info(), "version": __version__, "miners": list(self.cfg.miners), "banned": self.banned_miners(),
                "eligible": self.eligible(), "active_miners": active,
                "quorum": consensus.has_quorum(active, len(self.cfg.miners)),
                "mempool": {"pending": len(self.mempool), "min_fee": self.mempool.min_fee,
                            "mempool_max": self.mempool.max_pending},
                "disk_full": self.disk_full, "uptime_seconds": round(time.time() - self.started_at, 1)}

    def health(self):
        return metrics.health(self.state, self.chain.height, len(self.p2p.peers), self.cfg.min_peers,
                              self.syncing(), self.best_height(), self.disk_full)

    def metric_samples(self):
        disk = os.statvfs(self.data_dir)
        return {
            "bitcell_chain_height": self.chain.height,
            "bitcell_peer_count": len(self.p2p.peers),
            "bitcell_dht_peers": self.p2p.dht_size(),
            "bitcell_active_miners": self.active_miners(),
            "bitcell_banned_miners": len(self.banned_miners()),
            "bitcell_proof_gen_time_seconds": self.proof_time,
            "bitcell_pending_txs": len(self.mempool),
            "bitcell_txs_processed_total": self.txs_processed,
            "bitcell_blocks_produced_total": self.blocks_produced,
            "bitcell_last_block_timestamp_seconds": self.chain.head.timestamp,
            "bitcell_syncing": int(self.syncing()),
            "bitcell_db_size_bytes": self.db_size,
            "bitcell_disk_free_bytes": disk.f_bavail * disk.f_frsize,
            "bitcell_disk_total_bytes": disk.f_blocks * disk.f_frsize,
            "bitcell_node_info": [({"node_id": self.cfg.node_id, "region": self.cfg.region, "version": __version__}, 1)],
            "bitcell_start_time_seconds": self.started_at,
        }

    async def _serve_metrics_port(self, request):
        if request.path == "/metrics" and request.method == "GET":
            return Response(body=metrics.render(self.metric_samples()).encode(), content_type=metrics.CONTENT_TYPE)
        if request.path == "/health" and request.method == "GET":
            status, body = self.health()
            return json_response(body, status)
        if request.path.startswith("/admin/"):
            return await self.admin.handle(request, request.path[len("/admin/"):])
        return json_response({"error": "not found; try /metrics, /health or POST /admin/<command>"}, 404)

    # --- transactions ----------------------------------------------------------------------------

    def submit_tx(self, tx, source=None):
        status, digest = self.mempool.add(tx)
        if status == ADDED:
            self.p2p.broadcast({"type": "tx", "tx": tx}, exclude=source)
        return status, digest

    # --- p2p callbacks ------------------------------------------------------------------------------

    def on_peer_up(self, peer):
        self._sync_wakeup.set()

    def on_peer_down(self, peer):
        if self._sync_request and self._sync_request[0] is peer:
            self._sync_request = None
        self._sync_wakeup.set()

    def on_peer_status(self, peer):
        if self.peer_ahead(peer):
            self._sync_wakeup.set()

    def on_message(self, peer, kind, msg):
        if kind == "block":
            self._on_block(peer, msg.get("block"))
        elif kind == "get_blocks":
            self._on_get_blocks(peer, msg)
        elif kind == "blocks":
            self._on_blocks(peer, msg)
        elif kind == "tx":
            try:
                self.submit_tx(normalize_tx(msg.get("tx")), source=peer)
            except TxError:
                pass

    def _on_block(self, peer, data):
        try:
            block = Block.from_dict(data)
        except BlockError as err:
            log.warning("invalid block from peer %s: %s", peer.node_id, err)
            return
        if block.height >= peer.height:
            peer.note_head(block.height, block.hash)
        if self.chain.hash_at(block.height) == block.hash:
            return
        if block.height == self.chain.height + 1 and block.parent == self.chain.head.hash and not self.disk_full:
            if self._append(block):
                log.info("imported block height=%d miner=%s txs=%d from=%s",
                         block.height, block.miner, len(block.txs), peer.node_id)
                self.p2p.broadcast({"type": "block", "block": data}, exclude=peer)
            return
        if self.peer_ahead(peer):
            self._sync_wakeup.set()

    def _on_get_blocks(self, peer, msg):
        start, count = msg.get("from"), msg.get("count", SYNC_BATCH)
        if not isinstance(start, int) or not isinstance(count, int):
            return
        locator = msg.get("locator")
        for entry in locator if isinstance(locator, list) else ():
            # The first entry of theirs we also have is the last block we share: serve after it.
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int) \
                    and self.chain.hash_at(entry[0]) == entry[1]:
                start = entry[0] + 1
                break
        blocks = self.chain.blocks_from(start, max(1, min(count, SYNC_BATCH)))
        peer.send({"type": "blocks", "blocks": [b.to_dict() for b in blocks], "height": self.chain.height,
                   "head": self.chain.head.hash, "pruned_below": self.chain.pruned_below()})

    def _on_blocks(self, peer, msg):
        if self._sync_request and self._sync_request[0] is peer:
            self._sync_request = None
        peer.note_head(msg.get("height"), msg.get("head"))
        self._sync_wakeup.set()
        raw = msg.get("blocks")
        if self.disk_full or not isinstance(raw, list) or not raw:
            return
        try:
            blocks = [Block.from_dict(item) for item in raw]
        except BlockError as err:
            log.warning("invalid block from peer %s: %s", peer.node_id, err)
            return
        for prev, block in zip(blocks, blocks[1:]):
            if block.height != prev.height + 1 or block.parent != prev.hash:
                log.warning("peer %s sent blocks that do not link at height %d", peer.node_id, block.height)
                return
        pruned_below = msg.get("pruned_below") if isinstance(msg.get("pruned_below"), int) else 0
        self._apply_branch(peer, blocks, pruned_below)

    def _apply_branch(self, peer, blocks, peer_pruned_below):
        """Apply a run of linked blocks from `peer`: extend our head, switch to its better fork,
        or, when the peer pruned the history we miss, restart our chain from its oldest block."""
        while blocks and self.chain.hash_at(blocks[0].height) == blocks[0].hash:
            blocks = blocks[1:]
        if not blocks:
            return
        first, height = blocks[0], self.chain.height
        try:
            if first.height > height + 1:
                if first.height > peer_pruned_below:
                    return                    # a gap the peer could have filled; ask again
                log.warning("peer %s pruned history below %d; restarting our chain from its block %d",
                            peer.node_id, peer_pruned_below, first.height)
                self.chain.restart_from(first)
                blocks = blocks[1:]
            elif self.chain.hash_at(first.height - 1) != first.parent:
                log.warning("blocks from peer %s do not connect to our chain at height %d", peer.node_id, first.height - 1)
                return
            elif first.height <= height:
                if not self.peer_ahead(peer):
                    return
                depth = height - first.height + 1
                if depth > MAX_REORG:
                    log.error("refusing a reorg of %d blocks (max %d) offered by peer %s", depth, MAX_REORG, peer.node_id)
                    return
                self.chain.rollback(first.height - 1)
                log.warning("reorg: dropped %d block(s) above height %d to follow peer %s (height %d)",
                            depth, first.height - 1, peer.node_id, peer.height)
        except OSError as err:
            self._write_failed(f"writing block {first.height}", err)
            return
        applied = [block for block in blocks if self._append(block)]
        if applied:
            log.info("synced blocks %d..%d from %s (peer height %d)", applied[0].height, applied[-1].height,
                     peer.node_id, peer.height)

    # --- chain writes ----------------------------------------------------------------------------

    def _append(self, block):
        try:
            self.chain.append(block)
        except ValueError:
            return False
        except OSError as err:
            self._write_failed(f"writing block {block.height}", err)
            return False
        self.mempool.remove_included(block.txs)
        self.txs_processed += len(block.txs)
        return True

    def _write_failed(self, what, err):
        if is_disk_full(err):
            self._enter_disk_full(what, err)
        else:
            log.error("%s failed: %s", what, err)

    def _enter_disk_full(self, what, err):
        if not self.disk_full:
            log.error("disk full: %s failed (%s); not appending blocks until space is free", what, err.strerror or err)
        self.disk_full = True

    def _disk_has_room(self):
        probe = self.chain.store.db_dir / ".space-probe"
        try:
            write_atomic(probe, bytes(DISK_PROBE_BYTES))
            probe.unlink()
        except OSError:
            return False
        return True

    # --- block production --------------------------------------------------------------------------

    async def _producer_loop(self):
        interval = self.cfg.block_interval
        while True:
            slot = consensus.slot_at(time.time(), interval)
            await asyncio.sleep(max(0.0, consensus.slot_end(slot, interval) - time.time()) + 0.001)
            try:
                await self._propose(consensus.slot_at(time.time(), interval))
            except Exception:  # pylint: disable=broad-except
                log.exception("block production failed")

    def _check_quorum(self):
        active, total = self.active_miners(), len(self.cfg.miners)
        quorum = consensus.has_quorum(active, total)
        if quorum != self._quorum:
            if not quorum:
                log.warning("no quorum: active_miners=%d of %d (need more than 2/3); not producing blocks", active, total)
            elif self._quorum is not None:
                log.info("quorum restored: active_miners=%d of %d", active, total)
            self._quorum = quorum
        return quorum

    async def _propose(self, slot):
        if self.state != "running" or self.disk_full:
            return
        quorum = self._check_quorum()
        if not quorum or consensus.proposer_for(slot, self.eligible()) != self.cfg.node_id:
            return
        if any(self.peer_ahead(peer) for peer in self.p2p.peers.values()):
            return                                # catch up first
        parent = self.chain.head
        header = {"height": parent.height + 1, "parent": parent.hash, "miner": self.cfg.node_id,
                  "timestamp": round(time.time(), 3), "slot": slot,
                  "txs": self.mempool.select(self.cfg.max_txs_per_block), "proof": ZERO_HASH,
                  "payload": os.urandom(PAYLOAD_BYTES).hex()}
        seed = hashlib.sha256(canonical_json(header)).digest()
        started = time.perf_counter()
        header["proof"] = await asyncio.get_running_loop().run_in_executor(
            self._proof_pool, consensus.compute_proof, seed, self.cfg.proof_work)
        self.proof_time = time.perf_counter() - started
        if self.chain.head.hash != parent.hash or self.disk_full:
            log.info("discarding our block height=%d: the head moved while proving", header["height"])
            return
        late = time.time() - consensus.slot_end(slot, self.cfg.block_interval)
        if late > 0:
            log.warning("miner timeout: block height=%d finished %.3fs after its slot ended (proof=%.3fs); publishing late",
                        header["height"], late, self.proof_time)
        block = Block.create(**header)
        if not self._append(block):
            return
        self.blocks_produced += 1
        log.info("produced block height=%d proof=%.3fs txs=%d", block.height, self.proof_time, len(block.txs))
        self.p2p.broadcast({"type": "block", "block": block.to_dict()})

    # --- sync ----------------------------------------------------------------------------------------

    async def _sync_loop(self):
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
                # arrives together with the wakeup, and shutdown would then wait forever.
                async with asyncio.timeout(0.5):
                    await self._sync_wakeup.wait()
            except TimeoutError:
                pass
            self._sync_wakeup.clear()
            try:
                self._request_blocks()
            except Exception:  # pylint: disable=broad-except
                log.exception("sync failed")

    def _request_blocks(self):
        if self.state != "running" or self.disk_full:
            return
        if self._sync_request:
            peer, deadline = self._sync_request
            if self.p2p.peers.get(peer.node_id) is peer and time.monotonic() < deadline:
                return
            self._sync_request = None
        ahead = [peer for peer in self.p2p.peers.values() if self.peer_ahead(peer)]
        if not ahead:
            return
        peer = max(ahead, key=lambda p: p.height)
        peer.send({"type": "get_blocks", "from": self.chain.height + 1, "count": SYNC_BATCH,
                   "locator": self.chain.locator()})
        self._sync_request = (peer, time.monotonic() + SYNC_TIMEOUT)

    # --- housekeeping ----------------------------------------------------------------------------------

    async def _housekeeping_loop(self):
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            tick += 1
            try:
                self._track_sync_state()
                if self.disk_full and tick % 2 == 0 and await asyncio.to_thread(self._disk_has_room):
                    self.disk_full = False
                    log.info("disk space available again; resuming and resyncing from peers")
                    self._sync_wakeup.set()
                if tick % 5 == 0:
                    self.db_size = await asyncio.to_thread(self.chain.store.size_bytes)
            except Exception:  # pylint: disable=broad-except
                log.exception("housekeeping failed")

    def _track_sync_state(self):
        syncing = self.syncing()
        if syncing and self._sync_started_at is None:
            self._sync_started_at = self.chain.height
            log.info("syncing: height %d of %d", self.chain.height, self.best_height())
        elif not syncing and self._sync_started_at is not None:
            self._sync_started_at = None
            log.info("sync complete at height %d", self.chain.height)
