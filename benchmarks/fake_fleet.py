# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of fake BitCell nodes served by one asyncio process, for benchmarks.

Node ``i`` listens on ``127.0.<100 + i // 250>.<1 + i % 250>:<port>`` (one port
for all nodes, loopback only) and answers what a BitCell node answers:

* ``POST /``: JSON-RPC 2.0 (single or batch): ``eth_blockNumber`` and
  ``net_peerCount`` (hex quantities), ``eth_syncing`` (``false``),
  ``bitcell_nodeInfo`` (``{node_id, region, height, peers: [{id, region}]}``,
  the node's 8 nearest neighbours by index, as many as ``net_peerCount``), a few
  ``web3``/``net``/``eth`` basics; anything else is error -32601;
* ``GET /health``: 200 ``{"status": "ok", "height": H, "peers": P}``;
* ``GET /metrics``: Prometheus text format 0.0.4 with the ``bitcell_*`` metrics
  that ``chainops.runbooks.fleet_probe`` reads by default.

Every node is healthy and in sync (heights differ by at most 2 blocks).
Connections are HTTP/1.1 keep-alive unless the client sends
``Connection: close`` (urllib does) or speaks HTTP/1.0.

Run ``python benchmarks/fake_fleet.py --count 1000``: once every address
listens it prints one line ``READY {"port": ..., "nodes": [...]}`` (JSON) on
stdout.  With ``--watch-stdin`` it reads commands on stdin: ``stats`` prints
``STATS {"connections": ..., "requests": {"GET /health": ..., "POST / eth_blockNumber": ...}}``
(counted since the previous ``stats``); and it stops when stdin reaches end
of file, so it cannot outlive a parent that holds its stdin open as a pipe.
It also stops on SIGTERM and SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import errno
import json
import os
import random
import resource
import signal
import socket
import sys
import time

MAX_NODES = 100 * 250
PORT_TRIES = 20
HEADER_LIMIT = 16 * 1024
BODY_LIMIT = 1024 * 1024
IDLE_TIMEOUT = 30.0
REGIONS = ('us-east', 'eu-west', 'us-west', 'ap-south')
BASE_HEIGHT = 120000
PEERS = 8
REASONS = {200: 'OK', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
           413: 'Payload Too Large', 500: 'Internal Server Error'}


def node_address(index):
    """Loopback address of node ``index``: 127.0.100.1, 127.0.100.2, ... 127.0.101.1, ..."""
    if not 0 <= index < MAX_NODES:
        raise ValueError('node index %d out of range 0..%d' % (index, MAX_NODES - 1))
    return '127.0.%d.%d' % (100 + index // 250, 1 + index % 250)


def node_name(index):
    return 'bench-node-%05d' % index


def node_region(index):
    return REGIONS[index % len(REGIONS)]


def render_metrics(node):
    """The node's /metrics page (Prometheus text format 0.0.4)."""
    families = (
        ('bitcell_chain_height', 'gauge', 'Height of the chain head.', node['height']),
        ('bitcell_peer_count', 'gauge', 'Connected peers.', node['peers']),
        ('bitcell_dht_peers', 'gauge', 'Node ids in the DHT routing table.', node['peers'] + 4),
        ('bitcell_active_miners', 'gauge', 'Eligible miners.', 5),
        ('bitcell_banned_miners', 'gauge', 'Banned miners.', 0),
        ('bitcell_proof_gen_time_seconds', 'gauge', 'Wall time of the last proof.', 1.25),
        ('bitcell_pending_txs', 'gauge', 'Transactions in the mempool.', 17),
        ('bitcell_txs_processed', 'counter', 'Transactions included in blocks.', node['height'] * 3),
        ('bitcell_last_block_timestamp_seconds', 'gauge', 'Timestamp of the head block.', node['started']),
        ('bitcell_db_size_bytes', 'gauge', 'Bytes used by the block database.', 734003200),
        ('bitcell_disk_free_bytes', 'gauge', 'Free bytes on the data volume.', 53687091200),
        ('bitcell_disk_total_bytes', 'gauge', 'Size of the data volume.', 107374182400),
    )
    lines = []
    for name, kind, help_text, value in families:
        sample = name + '_total' if kind == 'counter' else name
        lines.append('# HELP %s %s' % (name, help_text))
        lines.append('# TYPE %s %s' % (name, kind))
        lines.append('%s %s' % (sample, value))
    lines.append('# HELP bitcell_node_info Constant 1, labelled with the node identity.')
    lines.append('# TYPE bitcell_node_info gauge')
    lines.append('bitcell_node_info{node_id="%s",region="%s",version="0.3.1"} 1' % (node['name'], node['region']))
    return ('\n'.join(lines) + '\n').encode('ascii')


def peer_list(index, count, peers=PEERS):
    """The ``peers`` of node ``index`` in a fleet of ``count``: its nearest neighbours by index."""
    wanted = min(peers, count - 1)
    others = []
    distance = 1
    while len(others) < wanted:
        for other in ((index + distance) % count, (index - distance) % count):
            if other != index and other not in others and len(others) < wanted:
                others.append(other)
        distance += 1
    return [{'id': node_name(other), 'region': node_region(other)} for other in others]


def make_node(index, count, port, started):
    address = node_address(index)
    node = {
        'index': index,
        'name': node_name(index),
        'region': node_region(index),
        'address': address,
        'port': port,
        'height': BASE_HEIGHT + index % 3,
        'peers': min(PEERS, count - 1),
        'peer_list': peer_list(index, count),
        'started': int(started),
    }
    node['health_body'] = json.dumps({'status': 'ok', 'height': node['height'], 'peers': node['peers']}).encode('ascii')
    node['metrics_body'] = render_metrics(node)
    return node


def public_view(node):
    """What a client needs to know about a node (printed in the READY line)."""
    base = 'http://%s:%d' % (node['address'], node['port'])
    return {
        'name': node['name'],
        'region': node['region'],
        'height': node['height'],
        'peers': node['peers'],
        'rpc_url': base + '/',
        'health_url': base + '/health',
        'metrics_url': base + '/metrics',
    }


def rpc_result(node, method):
    """``(result, error)`` of one JSON-RPC method call."""
    height = node['height']
    answers = {
        'eth_blockNumber': hex(height),
        'net_peerCount': hex(node['peers']),
        'eth_syncing': False,
        'eth_chainId': hex(0xb17c),
        'net_version': str(0xb17c),
        'net_listening': True,
        'web3_clientVersion': 'bitcell/0.3.1-fake',
        'bitcell_nodeInfo': {'node_id': node['name'], 'region': node['region'], 'height': height,
                             'peers': node['peer_list']},
    }
    if method in answers:
        return answers[method], None
    return None, {'code': -32601, 'message': 'Method not found'}


def rpc_answer(node, call):
    """The JSON-RPC response object for one request object (None for a notification)."""
    if not isinstance(call, dict) or call.get('jsonrpc') != '2.0' or not isinstance(call.get('method'), str):
        return {'jsonrpc': '2.0', 'id': None, 'error': {'code': -32600, 'message': 'Invalid Request'}}
    if 'id' not in call:
        return None
    result, error = rpc_result(node, call['method'])
    if error is not None:
        return {'jsonrpc': '2.0', 'id': call['id'], 'error': error}
    return {'jsonrpc': '2.0', 'id': call['id'], 'result': result}


def handle_rpc(node, body):
    """``(status, response document, [method names])`` for a JSON-RPC POST body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return 200, {'jsonrpc': '2.0', 'id': None, 'error': {'code': -32700, 'message': 'Parse error'}}, ['(parse error)']
    calls = doc if isinstance(doc, list) else [doc]
    methods = [call.get('method') if isinstance(call, dict) and isinstance(call.get('method'), str) else '(invalid)'
               for call in calls]
    if isinstance(doc, list):
        if not doc:
            return 200, {'jsonrpc': '2.0', 'id': None, 'error': {'code': -32600, 'message': 'Invalid Request'}}, ['(invalid)']
        answers = [answer for answer in (rpc_answer(node, call) for call in doc) if answer is not None]
        return 200, answers, methods
    return 200, rpc_answer(node, doc), methods


def route(node, method, path, body):
    """``(status, content type, body bytes, [what was asked, for the counters])`` for one request."""
    path = path.split('?', 1)[0]
    if path == '/' and method == 'POST':
        status, doc, methods = handle_rpc(node, body)
        return status, 'application/json', json.dumps(doc).encode('ascii'), ['POST / ' + name for name in methods]
    asked = ['%s %s' % (method, path)]
    if path == '/':
        return 405, 'application/json', b'{"error": "use POST for JSON-RPC"}', asked
    if path in ('/health', '/metrics'):
        if method not in ('GET', 'HEAD'):
            return 405, 'application/json', b'{"error": "use GET"}', asked
        if path == '/health':
            return 200, 'application/json', node['health_body'], asked
        return 200, 'text/plain; version=0.0.4; charset=utf-8', node['metrics_body'], asked
    return 404, 'application/json', b'{"error": "not found"}', ['(not found)']


def parse_head(head):
    """``(method, target, version, headers)`` from the bytes before the blank line."""
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ')
    if len(parts) != 3 or not parts[2].startswith('HTTP/1.'):
        raise ValueError('malformed request line')
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(':')
            if not sep:
                raise ValueError('malformed header')
            headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], parts[2], headers


def encode_response(status, content_type, body, keep_alive, head_only=False):
    head = ('HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n'
            % (status, REASONS.get(status, ''), content_type, len(body), 'keep-alive' if keep_alive else 'close'))
    return head.encode('latin-1') + (b'' if head_only else body)


class Fleet:
    """The nodes, their listening sockets and request counters."""

    def __init__(self, count):
        self.count = count
        self.nodes = []
        self.servers = []
        self.requests = 0
        self.connections = 0
        self.counts = collections.Counter()

    def take_stats(self):
        """Requests by kind (``GET /health``, ``POST / eth_blockNumber``...) and connections since the last call."""
        stats = {'connections': self.connections, 'requests': dict(sorted(self.counts.items()))}
        self.connections = 0
        self.counts.clear()
        return stats

    async def serve_connection(self, node, reader, writer):
        self.connections += 1
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT):
                        head = await reader.readuntil(b'\r\n\r\n')
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    return
                try:
                    method, target, version, headers = parse_head(head[:-4])
                    length = int(headers.get('content-length', '0'))
                    if length < 0 or length > BODY_LIMIT or 'chunked' in headers.get('transfer-encoding', '').lower():
                        raise ValueError('unsupported body')
                except ValueError:
                    writer.write(encode_response(400, 'application/json', b'{"error": "bad request"}', False))
                    await writer.drain()
                    return
                body = await reader.readexactly(length) if length else b''
                connection = headers.get('connection', '').lower()
                keep_alive = version == 'HTTP/1.1' and 'close' not in connection
                self.requests += 1
                try:
                    status, content_type, payload, asked = route(node, method, target, body)
                except Exception:  # pylint: disable=broad-exception-caught
                    status, content_type, payload, asked = 500, 'application/json', b'{"error": "internal error"}', ['(error)']
                self.counts.update(asked)
                writer.write(encode_response(status, content_type, payload, keep_alive, head_only=method == 'HEAD'))
                await writer.drain()
                if not keep_alive:
                    return
        except (OSError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def listen_all(self, port):
        """Bind every node to ``port`` (0: find one free on every address); return the port."""
        tries = PORT_TRIES if port == 0 else 1
        for attempt in range(tries):
            chosen = port if port else self._candidate_port(attempt)
            try:
                await self._listen(chosen)
                return chosen
            except OSError as exc:
                await self.close()
                if exc.errno != errno.EADDRINUSE or attempt + 1 == tries:
                    raise
        raise OSError(errno.EADDRINUSE, 'no free port')

    @staticmethod
    def _candidate_port(attempt):
        if attempt == 0:
            # Let the kernel pick a port that is free on the first address.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((node_address(0), 0))
                return probe.getsockname()[1]
        return random.randint(20000, 32000)

    async def _listen(self, port):
        started = time.time()
        self.nodes = [make_node(index, self.count, port, started) for index in range(self.count)]
        for node in self.nodes:
            def handler(reader, writer, node=node):
                return self.serve_connection(node, reader, writer)
            server = await asyncio.start_server(handler, host=node['address'], port=port, reuse_address=True,
                                                backlog=512, limit=HEADER_LIMIT)
            self.servers.append(server)

    async def close(self):
        for server in self.servers:
            server.close()
        self.servers = []


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def watch_stdin(loop, stop, fleet):
    """Serve commands on stdin (``stats``); stop when stdin reaches end of file (the parent is gone)."""
    pending = bytearray()

    def on_readable():
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            if not stop.done():
                stop.set_result('stdin closed')
            return
        pending.extend(data)
        while b'\n' in pending:
            line, _sep, rest = bytes(pending).partition(b'\n')
            pending[:] = rest
            if line.strip() == b'stats':
                sys.stdout.write('STATS %s\n' % json.dumps(fleet.take_stats()))
            else:
                sys.stdout.write('ERROR unknown command %r\n' % line.strip().decode('ascii', 'replace'))
            sys.stdout.flush()
    try:
        loop.add_reader(sys.stdin.fileno(), on_readable)
    except (OSError, ValueError):
        pass  # stdin is a regular file or /dev/null: rely on signals


async def run(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda signum=signum: stop.done() or stop.set_result(signal.Signals(signum).name))
    raise_fd_limit(args.count + 4096)
    fleet = Fleet(args.count)
    port = await fleet.listen_all(args.port)
    if args.watch_stdin:
        watch_stdin(loop, stop, fleet)
    ready = {'pid': os.getpid(), 'port': port, 'nodes': [public_view(node) for node in fleet.nodes]}
    sys.stdout.write('READY %s\n' % json.dumps(ready))
    sys.stdout.flush()
    why = await stop
    await fleet.close()
    sys.stderr.write('fake_fleet: stopped (%s) after %d requests\n' % (why, fleet.requests))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--count', type=int, default=100, help='number of nodes (1..%d)' % MAX_NODES)
    parser.add_argument('--port', type=int, default=0, help='port of every node; 0 picks one free on every address')
    parser.add_argument('--watch-stdin', action='store_true', help='stop when stdin reaches end of file')
    args = parser.parse_args(argv)
    if not 1 <= args.count <= MAX_NODES:
        parser.error('--count must be between 1 and %d' % MAX_NODES)
    return asyncio.run(run(args))


if __name__ == '__main__':
    sys.exit(main())
