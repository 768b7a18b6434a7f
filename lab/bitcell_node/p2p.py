# SPDX-License-Identifier: GPL-3.0-or-later
"""Peering over TCP: newline-delimited JSON messages, heartbeats, bootstrap and a tiny DHT.

Messages: hello, ping, peers (handled here) and block, get_blocks, blocks, tx (handed
to the node). A peer silent for PEER_TIMEOUT seconds is dropped, which is how DROP
rules in iptables get noticed. Bootstrap addresses are dialed only during the first
`bootstrap_window` seconds: afterwards a node that lost its peers stays alone until
it is restarted (or a restarted peer dials it back; inbound is always accepted).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

from .config import split_addr

log = logging.getLogger("bitcell")

MAX_LINE = 16 * 1024 * 1024
MAX_SEND_BUFFER = 32 * 1024 * 1024
PING_INTERVAL = 1.0
PEER_TIMEOUT = 5.0
PEERS_INTERVAL = 10.0
DHT_TTL = 30.0
DIAL_RETRY = 2.0
DIAL_TIMEOUT = 3.0
MAX_PEERS_ENTRIES = 256


def encode(msg):
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def _describe(err):
    if isinstance(err, TimeoutError):
        return "timed out"
    return err.strerror if isinstance(err, OSError) and err.strerror else (str(err) or type(err).__name__)


class Peer:
    """One TCP connection to another node (a peer once its hello was accepted)."""

    def __init__(self, reader, writer, outbound, addr):
        self.reader, self.writer = reader, writer
        self.outbound = outbound
        self.addr = addr                  # dialed address, or the remote socket for inbound
        self.node_id = None
        self.region = None
        self.listen = None                # the peer's own p2p address, from its hello
        self.height = 0
        self.head = ""
        self.last_seen = time.monotonic()
        self.established = False
        self.close_reason = None

    def note_head(self, height, head):
        if isinstance(height, int) and not isinstance(height, bool) and height >= 0 and isinstance(head, str):
            self.height, self.head = height, head

    def send(self, msg):
        self.send_raw(encode(msg))

    def send_raw(self, data):
        if self.close_reason is not None:
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            self.close("send buffer full")

    def close(self, reason):
        if self.close_reason is None:
            self.close_reason = reason
            self.writer.transport.abort()


class P2P:
    """Connections, peers (by node id) and the DHT routing table of one node.

    `node` supplies head() -> (height, hash) and the callbacks on_peer_up(peer),
    on_peer_down(peer), on_peer_status(peer) and on_message(peer, kind, msg).
    """

    def __init__(self, cfg, node):
        self.cfg = cfg
        self.node = node
        self.peers = {}                   # node id -> Peer, established connections only
        self.dht = {}                     # node id -> (addr, region, refreshed at)
        self._conns = set()
        self._self_addrs = {cfg.p2p_addr}
        self._addr_ids = {}               # bootstrap address -> node id it answered with
        self._dialing = set()             # addresses with a dial or outbound connection alive
        self._server = None
        self._tasks = set()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self):
        self._server = await asyncio.start_server(self._accept, host=self.cfg.listen_ip, port=self.cfg.p2p_port,
                                                  reuse_address=True, limit=MAX_LINE)
        for loop_fn in (self._bootstrap_loop, self._heartbeat_loop, self._peers_loop):
            self._spawn(loop_fn())

    async def close(self):
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for peer in list(self._conns):
            peer.close("shutting down")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3.0)

    def _spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- public ----------------------------------------------------------------------------

    def broadcast(self, msg, exclude=None):
        data = encode(msg)
        for peer in list(self.peers.values()):
            if peer is not exclude:
                peer.send_raw(data)

    def dht_size(self):
        self._expire_dht()
        return len(self.dht)

    # --- dialing -----------------------------------------------------------------------------

    async def _bootstrap_loop(self):
        deadline = time.monotonic() + self.cfg.bootstrap_window
        while True:
            for addr in self.cfg.bootstrap_nodes:
                if self._wants_dial(addr):
                    self._dialing.add(addr)
                    self._spawn(self._dial(addr))
            if time.monotonic() + DIAL_RETRY > deadline:
                break
            await asyncio.sleep(DIAL_RETRY)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        log.info("bootstrap window closed after %gs: peers=%d; no further dialing until restart",
                 self.cfg.bootstrap_window, len(self.peers))

    def _wants_dial(self, addr):
        if addr in self._self_addrs or addr in self._dialing:
            return False
        if self._addr_ids.get(addr) in self.peers:
            return False
        return not any(peer.listen == addr for peer in self.peers.values())

    async def _dial(self, addr):
        try:
            host, port = split_addr(addr)
            try:
                async with asyncio.timeout(DIAL_TIMEOUT):
                    reader, writer = await asyncio.open_connection(host, port, local_addr=(self.cfg.listen_ip, 0),
                                                                   limit=MAX_LINE)
            except (OSError, TimeoutError) as err:
                log.warning("bootstrap dial failed addr=%s err=%s", addr, _describe(err))
                return
            await self._run(Peer(reader, writer, outbound=True, addr=addr))
        finally:
            self._dialing.discard(addr)

    async def _accept(self, reader, writer):
        remote = writer.get_extra_info("peername") or ("?", 0)
        await self._run(Peer(reader, writer, outbound=False, addr=f"{remote[0]}:{remote[1]}"))

    # --- one connection ----------------------------------------------------------------------

    async def _run(self, peer):
        self._conns.add(peer)
        reason = "connection closed"
        try:
            peer.send(self._hello())
            while peer.close_reason is None:
                line = await peer.reader.readline()
                if not line:
                    break
                peer.last_seen = time.monotonic()
                msg = json.loads(line)
                if not isinstance(msg, dict):
                    raise ValueError("message is not a JSON object")
                self._dispatch(peer, msg)
        except (ConnectionError, OSError) as err:
            reason = f"connection error: {_describe(err)}"
        except ValueError as err:
            reason = f"protocol error: {err}"
        except asyncio.CancelledError:
            reason = "shutting down"
            raise
        finally:
            self._conns.discard(peer)
            peer.close(reason)
            self._forget(peer)

    def _dispatch(self, peer, msg):
        kind = msg.get("type")
        if not peer.established:
            if kind != "hello":
                raise ValueError(f"expected hello, got {kind!r}")
            self._handshake(peer, msg)
            return
        if kind == "ping":
            peer.note_head(msg.get("height"), msg.get("head"))
            self.node.on_peer_status(peer)
        elif kind == "peers":
            self._learn(msg.get("peers"))
        elif kind in ("block", "get_blocks", "blocks", "tx"):
            try:
                self.node.on_message(peer, kind, msg)
            except Exception:  # pylint: disable=broad-except
                log.exception("error handling %s from peer %s", kind, peer.node_id)
        # unknown kinds and repeated hellos are ignored (newer protocol versions may add some)

    def _hello(self):
        height, head = self.node.head()
        return {"type": "hello", "node_id": self.cfg.node_id, "region": self.cfg.region, "height": height,
                "head": head, "listen": self.cfg.p2p_addr, "chain_id": self.cfg.chain_id}

    def _handshake(self, peer, hello):
        node_id, region, listen = hello.get("node_id"), hello.get("region"), hello.get("listen")
        if not all(isinstance(v, str) and v for v in (node_id, region, listen)):
            raise ValueError("hello without node_id, region or listen")
        if hello.get("chain_id") != self.cfg.chain_id:
            log.warning("peer rejected id=%s addr=%s reason=chain id mismatch (theirs=%s ours=%s)",
                        node_id, peer.addr, hello.get("chain_id"), self.cfg.chain_id)
            peer.close("chain id mismatch")
            return
        if node_id == self.cfg.node_id:
            log.info("closing connection to ourselves addr=%s", peer.addr)
            if peer.outbound:
                self._self_addrs.add(peer.addr)
            peer.close("self connection")
            return
        peer.node_id, peer.region, peer.listen = node_id, region, listen
        peer.note_head(hello.get("height"), hello.get("head"))
        if peer.outbound:
            self._addr_ids[peer.addr] = node_id
        self._refresh_dht(node_id, listen, region)
        existing = self.peers.get(node_id)
        if existing is not None and self._keep_existing(existing, peer):
            peer.close("duplicate connection")
            return
        peer.established = True
        self.peers[node_id] = peer
        peer.send(self._peers_msg())
        if existing is not None:
            existing.close("duplicate connection")   # replaced: not a lost peer
            self.node.on_peer_status(peer)
            return
        log.info("peer connected id=%s region=%s addr=%s direction=%s height=%d",
                 node_id, region, listen, "out" if peer.outbound else "in", peer.height)
        self.node.on_peer_up(peer)

    def _keep_existing(self, existing, new):
        """Both ends must close the same one of two connections between them: keep the one
        dialed by the lower node id; two dialed by the same side are a reconnect, keep the new."""
        def dialer(peer):
            return self.cfg.node_id if peer.outbound else peer.node_id
        if dialer(existing) == dialer(new):
            return False
        return dialer(existing) < dialer(new)

    def _forget(self, peer):
        if peer.established and self.peers.get(peer.node_id) is peer:
            del self.peers[peer.node_id]
            log.warning("peer lost id=%s reason=%s", peer.node_id, peer.close_reason)
            self.node.on_peer_down(peer)

    # --- periodic ------------------------------------------------------------------------------

    async def _heartbeat_loop(self):
        while True:
            await asyncio.sleep(PING_INTERVAL)
            height, head = self.node.head()
            ping = encode({"type": "ping", "height": height, "head": head})
            now = time.monotonic()
            for peer in list(self._conns):
                if now - peer.last_seen > PEER_TIMEOUT:
                    peer.close("heartbeat timeout" if peer.established else "handshake timeout")
                elif peer.established:
                    peer.send_raw(ping)
            self._expire_dht()

    async def _peers_loop(self):
        while True:
            await asyncio.sleep(PEERS_INTERVAL)
            self.broadcast(self._peers_msg())

    # --- DHT -------------------------------------------------------------------------------------

    def _peers_msg(self):
        known = [{"id": self.cfg.node_id, "addr": self.cfg.p2p_addr, "region": self.cfg.region}]
        known += [{"id": p.node_id, "addr": p.listen, "region": p.region} for p in self.peers.values()]
        return {"type": "peers", "peers": known}

    def _learn(self, entries):
        if not isinstance(entries, list):
            return
        for entry in entries[:MAX_PEERS_ENTRIES]:
            if not isinstance(entry, dict):
                continue
            node_id, addr, region = entry.get("id"), entry.get("addr"), entry.get("region")
            if isinstance(node_id, str) and node_id and isinstance(addr, str) and isinstance(region, str):
                self._refresh_dht(node_id, addr, region)

    def _refresh_dht(self, node_id, addr, region):
        if node_id != self.cfg.node_id:
            self.dht[node_id] = (addr, region, time.monotonic())

    def _expire_dht(self):
        cutoff = time.monotonic() - DHT_TTL
        for node_id in [n for n, (_a, _r, seen) in self.dht.items() if seen < cutoff]:
            del self.dht[node_id]
