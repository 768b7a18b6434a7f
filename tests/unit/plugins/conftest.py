# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures for the plugin unit tests.

* Makes ``ansible_collections.chainops.runbooks`` importable when it is not
  already (a temporary ``ansible_collections/chainops/runbooks`` symlink to
  this checkout, prepended to ``sys.path``).
* ``fake_node``: real HTTP servers on 127.0.0.1 that serve what a BitCell
  node serves (JSON-RPC, /health, /metrics), with knobs for failures.
* ``fake_prometheus``: a stand-in for a Prometheus server (not Prometheus
  itself): a real HTTP server that speaks the shape of the Prometheus HTTP API
  (``/api/v1/query``, ``/api/v1/query_range``, success and error envelopes)
  over a fixed set of series, for unit tests that must not need the lab.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def _ensure_collection_importable():
    try:
        importlib.import_module('ansible_collections.chainops.runbooks.plugins')
        return
    except ImportError:
        pass
    tree = tempfile.mkdtemp(prefix='chainops-units-')
    namespace = os.path.join(tree, 'ansible_collections', 'chainops')
    os.makedirs(namespace)
    link = os.path.join(namespace, 'runbooks')
    os.symlink(str(REPO_ROOT), link)

    def cleanup():
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(tree, ignore_errors=True)

    atexit.register(cleanup)
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m == 'ansible_collections' or m.startswith('ansible_collections.')]:
        del sys.modules[name]
    importlib.invalidate_caches()
    importlib.import_module('ansible_collections.chainops.runbooks.plugins')


_ensure_collection_importable()


@pytest.fixture(scope='session')
def collections_path():
    """Directory above ``ansible_collections`` that holds chainops.runbooks (for ANSIBLE_COLLECTIONS_PATH)."""
    package = importlib.import_module('ansible_collections.chainops.runbooks')
    runbooks = pathlib.Path(list(package.__path__)[0])
    return str(runbooks.parents[2])


@pytest.fixture
def run_playbook(tmp_path, collections_path):
    """Run ``ansible-playbook`` of this venv hermetically; returns the CompletedProcess.

    Uses a minimal ansible.cfg in ``tmp_path`` (not the repo's), this checkout as
    chainops.runbooks, and the test's Python as the local interpreter.
    """
    def run(inventory_text, playbook_text, *extra_args):
        (tmp_path / 'ansible.cfg').write_text('[defaults]\nretry_files_enabled = false\n'
                                              'interpreter_python = %s\n' % sys.executable)
        (tmp_path / 'inventory.yml').write_text(inventory_text)
        (tmp_path / 'play.yml').write_text(playbook_text)
        env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
        env.update({
            'ANSIBLE_CONFIG': str(tmp_path / 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': collections_path,
            'ANSIBLE_HOME': str(tmp_path / 'ansible-home'),
            'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'ansible-tmp'),
            'ANSIBLE_NOCOLOR': '1',
        })
        playbook_bin = pathlib.Path(sys.executable).parent / 'ansible-playbook'
        return subprocess.run([str(playbook_bin), '-i', 'inventory.yml', 'play.yml'] + list(extra_args),
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)

    return run


METRICS_TEMPLATE = '''# HELP bitcell_chain_height Current chain height
# TYPE bitcell_chain_height gauge
bitcell_chain_height {height}
# HELP bitcell_peer_count Connected peers
# TYPE bitcell_peer_count gauge
bitcell_peer_count {peers}
# TYPE bitcell_dht_peers gauge
bitcell_dht_peers 7
# TYPE bitcell_active_miners gauge
bitcell_active_miners 3
# TYPE bitcell_banned_miners gauge
bitcell_banned_miners 0
# HELP bitcell_proof_gen_time_seconds Proof generation time
# TYPE bitcell_proof_gen_time_seconds gauge
bitcell_proof_gen_time_seconds 2.5
# TYPE bitcell_pending_txs gauge
bitcell_pending_txs 12
# HELP bitcell_txs_processed_total Transactions processed
# TYPE bitcell_txs_processed_total counter
bitcell_txs_processed_total 4096
# TYPE bitcell_last_block_timestamp_seconds gauge
bitcell_last_block_timestamp_seconds 1.7e+09
# TYPE bitcell_disk_free_bytes gauge
bitcell_disk_free_bytes 5.0e+10
# TYPE bitcell_disk_total_bytes gauge
bitcell_disk_total_bytes 1.0e+11
# TYPE bitcell_db_size_bytes gauge
bitcell_db_size_bytes 123456789
# HELP bitcell_node_info Node information
# TYPE bitcell_node_info gauge
bitcell_node_info{{node_id="{name}",region="{region}",version="0.3.1"}} 1
'''


class FakeNode:
    """State and behaviour of one simulated node; mutate attributes in tests."""

    def __init__(self, name='node', region='us-east', height=100, peers=3):
        self.name = name
        self.region = region
        self.height = height
        self.peers = peers
        self.syncing = False            # or (current, highest)
        self.health_status = 200
        self.health_reason = None
        self.hang_seconds = 0.0         # delay before answering anything
        self.fail_first = 0             # answer HTTP 503 (no body) to the first N requests
        self.rpc_errors = {}            # method -> (code, message)
        self.metrics_text = None        # override the exposition
        self.rpc_raw = None             # (status, body) to answer every JSON-RPC POST with
        self.node_info_peers = None     # peer ids for bitcell_nodeInfo; None: method not found (plain Ethereum node)
        self.peer_regions = {}          # peer id -> region in the bitcell_nodeInfo peer list
        self.node_id = None             # node_id bitcell_nodeInfo reports (default: name)
        self.head_hash = None           # head_hash bitcell_nodeInfo reports (default: derived from height)
        self.requests = []              # (method, path, rpc method or None)
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = None
        self.base = None

    @property
    def rpc_url(self):
        return self.base + '/'

    @property
    def health_url(self):
        return self.base + '/health'

    @property
    def metrics_url(self):
        return self.base + '/metrics'

    def target(self, **extra):
        entry = {'name': self.name, 'region': self.region, 'rpc_url': self.rpc_url,
                 'health_url': self.health_url, 'metrics_url': self.metrics_url}
        entry.update(extra)
        return entry

    def count(self, path=None):
        with self.lock:
            return len([r for r in self.requests if path is None or r[1] == path])


def _make_handler(node):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _send(self, status, body, content_type='application/json'):
            data = body if isinstance(body, bytes) else body.encode('utf-8')
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _gate(self, rpc_method=None):
            with node.lock:
                node.requests.append((self.command, self.path, rpc_method))
                number = len(node.requests)
            if node.hang_seconds:
                node.release.wait(node.hang_seconds)
            if number <= node.fail_first:
                self._send(503, b'')
                return False
            return True

        def do_GET(self):
            if self.path == '/health':
                if not self._gate():
                    return
                if node.health_status == 200:
                    self._send(200, json.dumps({'status': 'ok', 'height': node.height, 'peers': node.peers}))
                else:
                    self._send(node.health_status, json.dumps({'status': 'unhealthy', 'reason': node.health_reason}))
            elif self.path == '/metrics':
                if not self._gate():
                    return
                text = node.metrics_text
                if text is None:
                    text = METRICS_TEMPLATE.format(height=node.height, peers=node.peers, name=node.name, region=node.region)
                self._send(200, text, 'text/plain; version=0.0.4')
            else:
                self._send(404, json.dumps({'error': 'not found'}))

        def do_POST(self):
            length = int(self.headers.get('Content-Length') or 0)
            request = json.loads(self.rfile.read(length) or b'{}')
            method = request.get('method')
            if not self._gate(method):
                return
            if node.rpc_raw is not None:
                self._send(node.rpc_raw[0], node.rpc_raw[1], 'text/html')
                return
            if method in node.rpc_errors:
                code, message = node.rpc_errors[method]
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'error': {'code': code, 'message': message}}
            elif method == 'eth_blockNumber':
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'result': hex(node.height)}
            elif method == 'net_peerCount':
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'result': hex(node.peers)}
            elif method == 'bitcell_nodeInfo' and node.node_info_peers is not None:
                peers = [{'id': peer, 'region': node.peer_regions.get(peer), 'addr': '127.0.0.1:0'}
                         for peer in node.node_info_peers]
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'result': {
                    'node_id': node.node_id or node.name, 'region': node.region, 'height': node.height,
                    'head_hash': node.head_hash or '0x%064x' % node.height, 'peers': peers,
                    'syncing': False, 'state': 'running'}}
            elif method == 'eth_syncing':
                if node.syncing:
                    current, highest = node.syncing
                    result = {'startingBlock': '0x0', 'currentBlock': hex(current), 'highestBlock': hex(highest)}
                else:
                    result = False
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'result': result}
            else:
                reply = {'jsonrpc': '2.0', 'id': request.get('id'), 'error': {'code': -32601, 'message': 'Method not found'}}
            self._send(200, json.dumps(reply))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that gave up (timeouts, deadline) close the socket: expected, not worth a traceback.
        pass


@pytest.fixture
def fake_node():
    """Factory: ``fake_node(name, region=..., height=..., peers=...)`` starts a node server."""
    nodes = []

    def start(name='node', **kwargs):
        node = FakeNode(name, **kwargs)
        server = _Server(('127.0.0.1', 0), _make_handler(node))
        node.server = server
        node.base = 'http://127.0.0.1:%d' % server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        thread.start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.release.set()
        node.server.shutdown()
        node.server.server_close()


@pytest.fixture
def refused_url():
    """An http URL on 127.0.0.1 where nothing listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return 'http://127.0.0.1:%d' % port


@pytest.fixture
def clock():
    return time.monotonic


# --- a stand-in for Prometheus ------------------------------------------------------------

class FakePrometheus:
    """State of the Prometheus stand-in; mutate attributes in tests.

    ``series``: list of ``(labels dict, value)``; a query that is a bare
    selector (``up``, ``up{job="x",instance="y"}``) returns the matching
    series as a vector (or, for query_range, a matrix with one point per step).
    ``canned``: query string -> (HTTP status, JSON document) answered as is.
    Anything else is answered like Prometheus answers a parse error.
    """

    def __init__(self):
        self.series = []
        self.canned = {}
        self.warnings = []
        self.requests = []              # (path, {param: value}, headers dict)
        self.fail_first = 0             # answer HTTP 503 to the first N requests
        self.lock = threading.Lock()
        self.server = None
        self.url = None

    def select(self, query):
        import re
        match = re.match(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$', query)
        if not match:
            return None
        name, body = match.group(1), match.group(2) or ''
        wanted = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"', body))
        return [(dict(labels, __name__=name), value) for labels, value in self.series
                if labels.get('__name__', name) == name and all(labels.get(k) == v for k, v in wanted.items())]


def _prometheus_handler(prom):
    from urllib.parse import parse_qs, urlsplit

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _send(self, status, doc):
            data = json.dumps(doc).encode('utf-8')
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with prom.lock:
                prom.requests.append((parts.path, params, dict(self.headers.items())))
                number = len(prom.requests)
            if number <= prom.fail_first:
                self._send(503, {'status': 'error', 'errorType': 'unavailable', 'error': 'starting up'})
                return
            if parts.path not in ('/api/v1/query', '/api/v1/query_range'):
                data = b'404 page not found\n'
                self.send_response(404)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            query = params.get('query', '')
            if query in prom.canned:
                status, doc = prom.canned[query]
                self._send(status, doc)
                return
            selected = prom.select(query)
            if selected is None:
                self._send(400, {'status': 'error', 'errorType': 'bad_data',
                                 'error': '1:%d: parse error: unexpected character in %r' % (len(query), query)})
                return
            if parts.path == '/api/v1/query':
                at = float(params.get('time', time.time()))
                result = [{'metric': labels, 'value': [at, str(value)]} for labels, value in selected]
                doc = {'status': 'success', 'data': {'resultType': 'vector', 'result': result}}
            else:
                start, end, step = float(params['start']), float(params['end']), float(params['step'])
                points = []
                t = start
                while t <= end + 1e-9:
                    points.append(t)
                    t += step
                result = [{'metric': labels, 'values': [[p, str(value)] for p in points]} for labels, value in selected]
                doc = {'status': 'success', 'data': {'resultType': 'matrix', 'result': result}}
            if prom.warnings:
                doc['warnings'] = list(prom.warnings)
            self._send(200, doc)

    return Handler


@pytest.fixture
def fake_prometheus():
    """A stand-in Prometheus (see ``FakePrometheus``) on 127.0.0.1; ``.url`` is its base URL."""
    prom = FakePrometheus()
    server = _Server(('127.0.0.1', 0), _prometheus_handler(prom))
    prom.server = server
    prom.url = 'http://127.0.0.1:%d' % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield prom
    server.shutdown()
    server.server_close()
