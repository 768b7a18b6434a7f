# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: probing N BitCell nodes with fleet_probe, with uri per host, and with a raw client.

For every size N it starts N fake nodes on loopback (``fake_fleet.py``, one
asyncio process), writes an inventory of N hosts and runs, side by side:

(a) ``chainops.runbooks.fleet_probe`` in one task (``run_once``) over all hosts;
(b) the same requests as ``ansible.builtin.uri`` tasks per host (``--forks``);
(c) a raw asyncio client doing the same requests (the floor), and for
    reference (c') a thread pool with ``http.client`` (the same model as
    fleet_probe: threads, one connection per request).

"The same requests" are the ones the fake fleet counted for (a): (a) runs
first, and (b), (c) and (c') then send exactly that mix per node; the
server's counts are checked after every method.  Every method must report
every node healthy, else the run fails (exit 1).  Performance numbers are
printed, never asserted.  See benchmarks/README.md.

Run with the venv python: ``.venv/bin/python benchmarks/bench_probe.py --sizes 100,1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / 'benchmarks'
COLLECTION_LINK = REPO / 'build' / 'collections' / 'ansible_collections' / 'chainops' / 'runbooks'
# Absolute, but not resolved: the venv's python is a symlink and must stay the venv's.
PYTHON = os.path.abspath(sys.executable)
BIN_DIR = Path(PYTHON).parent
ANSIBLE_PLAYBOOK = BIN_DIR / 'ansible-playbook'

# fleet_probe's JSON-RPC calls in probe_rpc(), in their order; other methods it is seen to call follow them.
BASE_RPC_METHODS = ('eth_blockNumber', 'net_peerCount', 'eth_syncing')
HEALTH_KIND = 'GET /health'
METRICS_KIND = 'GET /metrics'
RPC_KIND = 'POST / '
# What fleet_probe asks for by default (module_utils/fleet.py DEFAULT_METRICS).
METRIC_NAMES = (
    'bitcell_chain_height', 'bitcell_peer_count', 'bitcell_dht_peers', 'bitcell_active_miners',
    'bitcell_banned_miners', 'bitcell_proof_gen_time_seconds', 'bitcell_pending_txs',
    'bitcell_txs_processed_total', 'bitcell_last_block_timestamp_seconds', 'bitcell_disk_free_bytes',
    'bitcell_disk_total_bytes', 'bitcell_db_size_bytes', 'bitcell_node_info',
)
READY_TIMEOUT = 120.0
STATS_TIMEOUT = 30.0
STOP_GRACE = 10.0
PROBE_TASK = 'fleet_probe over all hosts'


class BenchError(Exception):
    """The benchmark cannot go on (a process failed, a result is incomplete)."""


def say(text):
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


# --------------------------------------------------------------------------- processes

class Children:
    """Every process the benchmark starts, so that each one is stopped, by pid."""

    def __init__(self):
        self.procs = []

    def popen(self, command, group=False, **kwargs):
        """Start ``command``; ``group``: in its own session, so its workers can be stopped with it."""
        proc = subprocess.Popen(command, start_new_session=group, **kwargs)  # pylint: disable=consider-using-with
        self.procs.append((proc, group))
        return proc

    @staticmethod
    def _signal(proc, group, signum):
        try:
            if group:
                os.killpg(proc.pid, signum)
            elif proc.poll() is None:
                proc.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, proc, grace=STOP_GRACE):
        """SIGTERM, then SIGKILL after ``grace`` seconds; for a group, every member of it."""
        group = next((grp for known, grp in self.procs if known is proc), False)
        if proc.poll() is None:
            self._signal(proc, group, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(proc, group, signal.SIGKILL)
                proc.wait()
        if group:
            # Workers of a group whose leader is gone (a crash, or the SIGTERM above).
            self._signal(proc, group, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self.procs = [(known, grp) for known, grp in self.procs if known is not proc]

    def stop_all(self):
        for proc, _group in list(reversed(self.procs)):
            self.stop(proc)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


# --------------------------------------------------------------------------- the fake fleet

class FleetServer:
    """fake_fleet.py as a child: its READY line, and request counts on demand (``stats``)."""

    def __init__(self, children, count, log):
        command = [PYTHON, str(BENCH_DIR / 'fake_fleet.py'), '--count', str(count), '--watch-stdin']
        self.proc = children.popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self._buffer = b''
        line = self._read_line(READY_TIMEOUT)
        if not line.startswith(b'READY '):
            raise BenchError('fake_fleet said %r' % line[:200])
        self.info = json.loads(line[len(b'READY '):])
        if len(self.info['nodes']) != count:
            raise BenchError('fake_fleet serves %d nodes, not %d' % (len(self.info['nodes']), count))

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b'\n' not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                raise BenchError('fake_fleet did not answer (%s)' % (
                    'exit %s' % self.proc.returncode if self.proc.poll() is not None else 'timeout'))
            if select.select([self.proc.stdout], [], [], remaining)[0]:
                self._buffer += os.read(self.proc.stdout.fileno(), 1 << 20)
        line, self._buffer = self._buffer.split(b'\n', 1)
        return line

    def stats(self):
        """``{'connections': int, 'requests': {kind: count}}`` since the previous call."""
        self.proc.stdin.write(b'stats\n')
        self.proc.stdin.flush()
        line = self._read_line(STATS_TIMEOUT)
        if not line.startswith(b'STATS '):
            raise BenchError('fake_fleet said %r' % line[:200])
        return json.loads(line[len(b'STATS '):])


def url_host_port(url):
    hostport = url.split('://', 1)[1].split('/', 1)[0]
    host, port = hostport.rsplit(':', 1)
    return host, int(port)


def url_path(url):
    rest = url.split('://', 1)[1]
    return '/' + rest.split('/', 1)[1] if '/' in rest else '/'


def listening(url):
    try:
        with socket.create_connection(url_host_port(url), timeout=1.0):
            return True
    except OSError:
        return False


def request_mix(count, stats):
    """The JSON-RPC methods (a) called on every node, from the server's counts; and what else it saw."""
    requests = stats['requests']
    methods = [kind[len(RPC_KIND):] for kind, seen in requests.items() if kind.startswith(RPC_KIND) and seen >= count]
    methods.sort(key=lambda name: (BASE_RPC_METHODS.index(name) if name in BASE_RPC_METHODS else len(BASE_RPC_METHODS), name))
    expected = expected_counts(count, methods)
    unusual = {kind: seen for kind, seen in requests.items() if expected.get(kind) != seen}
    return methods, unusual


def expected_counts(count, methods):
    expected = {HEALTH_KIND: count, METRICS_KIND: count}
    expected.update({RPC_KIND + name: count for name in methods})
    return expected


def check_counts(label, count, methods, stats):
    """A note when a method did not send exactly one request of each kind per node."""
    expected = expected_counts(count, methods)
    if stats['requests'] != expected:
        return '%s: the fake fleet counted %s, expected %s' % (label, stats['requests'], expected)
    return None


# --------------------------------------------------------------------------- verification helpers

def rpc_payload(method, request_id):
    return json.dumps({'jsonrpc': '2.0', 'id': request_id, 'method': method, 'params': []}).encode()


def scan_metrics(text, names=METRIC_NAMES):
    """Values of the unlabelled ``names`` in a Prometheus text page (labelled ones: count of series)."""
    found = {}
    wanted = set(names)
    for line in text.splitlines():
        if not line or line[0] == '#':
            continue
        name_part, _sep, value = line.rpartition(' ')
        name = name_part.split('{', 1)[0]
        if name in wanted:
            found[name] = found.get(name, 0) + 1 if '{' in name_part else float(value)
    return found


def rpc_problem(node, method, doc):
    """Why a JSON-RPC answer (decoded body) is not what a healthy node says; None when it is."""
    if not isinstance(doc, dict) or 'result' not in doc:
        return '%s: %s' % (method, doc.get('error') if isinstance(doc, dict) else doc)
    result = doc['result']
    wrong = ((method == 'eth_blockNumber' and result != hex(node['height']))
             or (method == 'net_peerCount' and result != hex(node['peers']))
             or (method == 'eth_syncing' and result is not False)
             or (method == 'bitcell_nodeInfo' and (not isinstance(result, dict) or result.get('node_id') != node['name'])))
    return '%s: unexpected result %r' % (method, result) if wrong else None


def metrics_problem(node, text):
    found = scan_metrics(text)
    if found.get('bitcell_chain_height') != node['height'] or len(found) != len(METRIC_NAMES):
        return 'metrics: %d of %d metrics, height %s' % (len(found), len(METRIC_NAMES), found.get('bitcell_chain_height'))
    return None


def assess_raw(node, methods, health, rpc, metrics):
    """``(healthy, reason)`` of the floor clients from raw ``(status, body)`` answers."""
    status, body = health
    doc = json.loads(body) if status == 200 else {}
    if doc.get('status') != 'ok':
        return False, 'health: HTTP %s %r' % (status, doc.get('status'))
    for method, (status, body) in zip(methods, rpc):
        problem = rpc_problem(node, method, json.loads(body) if status == 200 else 'HTTP %s' % status)
        if problem:
            return False, problem
    status, body = metrics
    problem = metrics_problem(node, body.decode()) if status == 200 else 'metrics: HTTP %s' % status
    return (False, problem) if problem else (True, '')


def collect_verdicts(nodes, verdicts):
    healthy = 0
    problems = []
    for node, verdict in zip(nodes, verdicts):
        if isinstance(verdict, BaseException):
            problems.append('%s: %s: %s' % (node['name'], type(verdict).__name__, verdict))
        elif verdict[0]:
            healthy += 1
        else:
            problems.append('%s: %s' % (node['name'], verdict[1]))
    return {'healthy': healthy, 'total': len(nodes), 'problems': problems[:10]}


def require_all_healthy(label, count, check):
    """Timings of a run that missed a node mean nothing: stop the benchmark."""
    if check['healthy'] != count or check['total'] != count:
        raise BenchError('N=%d: %s saw only %d of %d nodes healthy, so its timing means nothing; first problems:\n  %s'
                         % (count, label, check['healthy'], count, '\n  '.join(check['problems'])))


# --------------------------------------------------------------------------- (c) floors

async def _fetch(url, method, body, timeout):
    """One HTTP/1.1 request on a fresh connection (``Connection: close``); ``(status, body)``."""
    host, port = url_host_port(url)
    head = '%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\nAccept: */*\r\n' % (method, url_path(url), host, port)
    if body is not None:
        head += 'Content-Type: application/json\r\nContent-Length: %d\r\n' % len(body)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head.encode('latin-1') + b'\r\n' + (body or b''))
            data = await reader.read()
        finally:
            writer.close()
    header, _sep, payload = data.partition(b'\r\n\r\n')
    return int(header.split(b' ', 2)[1]), payload


async def _floor_async(nodes, methods, concurrency, timeout):
    gate = asyncio.Semaphore(concurrency)

    async def request(url, method='GET', body=None):
        async with gate:
            return await _fetch(url, method, body, timeout)

    async def probe(node):
        answers = await asyncio.gather(
            request(node['health_url']),
            *(request(node['rpc_url'], 'POST', rpc_payload(name, number)) for number, name in enumerate(methods, 1)),
            request(node['metrics_url']))
        return assess_raw(node, methods, answers[0], answers[1:-1], answers[-1])

    return await asyncio.gather(*(probe(node) for node in nodes), return_exceptions=True)


def run_floor_async(nodes, methods, concurrency, timeout):
    """(c) asyncio streams, every request on its own connection, at most ``concurrency`` in flight."""
    started = time.monotonic()
    verdicts = asyncio.run(_floor_async(nodes, methods, concurrency, timeout))
    seconds = time.monotonic() - started
    return seconds, collect_verdicts(nodes, verdicts)


def _http_once(url, method, body, timeout):
    host, port = url_host_port(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {'Connection': 'close', 'Accept': '*/*'}
        if body is not None:
            headers['Content-Type'] = 'application/json'
        conn.request(method, url_path(url), body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def run_floor_threads(nodes, methods, concurrency, timeout):
    """(c') thread pool + http.client with fleet_probe's plan.

    One job per endpoint, health of every node first, then JSON-RPC (its base
    methods one after the other in one job), metrics, and one job per node
    for each other JSON-RPC method.
    """
    numbered = list(enumerate(methods, 1))
    base = [(number, name) for number, name in numbered if name in BASE_RPC_METHODS]
    extra = [(number, name) for number, name in numbered if name not in BASE_RPC_METHODS]

    def get(url):
        return _http_once(url, 'GET', None, timeout)

    def rpc(url, calls):
        return {name: _http_once(url, 'POST', rpc_payload(name, number), timeout) for number, name in calls}

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        health = [pool.submit(get, node['health_url']) for node in nodes]
        rpc_base = [pool.submit(rpc, node['rpc_url'], base) for node in nodes]
        metrics = [pool.submit(get, node['metrics_url']) for node in nodes]
        rpc_extra = [[pool.submit(rpc, node['rpc_url'], [call]) for call in extra] for node in nodes]
        verdicts = []
        for index, node in enumerate(nodes):
            try:
                answers = dict(rpc_base[index].result())
                for future in rpc_extra[index]:
                    answers.update(future.result())
                verdicts.append(assess_raw(node, methods, health[index].result(), [answers[name] for name in methods],
                                           metrics[index].result()))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                verdicts.append(exc)
    seconds = time.monotonic() - started
    return seconds, collect_verdicts(nodes, verdicts)


# --------------------------------------------------------------------------- inventory and playbooks

def write_inventory(path, nodes):
    lines = ['all:', '  children:', '    bench_nodes:', '      vars:',
             '        ansible_connection: local',
             '        ansible_python_interpreter: %s' % json.dumps(PYTHON),
             '      hosts:']
    for node in nodes:
        lines.append('        %s:' % node['name'])
        lines.append('          chainops_region: %s' % node['region'])
        for key in ('rpc_url', 'health_url', 'metrics_url'):
            lines.append('          chainops_%s: %s' % (key, json.dumps(node[key])))
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')


def write_probe_playbook(path, options):
    option_lines = ''.join('        %s: %s\n' % (key, json.dumps(value)) for key, value in options.items())
    path.write_text(
        '- name: Benchmark (a) fleet_probe in one task\n'
        '  hosts: bench_nodes\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - name: %s\n'
        '      chainops.runbooks.fleet_probe:\n'
        '        targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"\n'
        '%s'
        '      run_once: true\n'
        '      delegate_to: localhost\n' % (PROBE_TASK, option_lines), encoding='utf-8')


def uri_task_names(methods):
    return ['health'] + ['rpc %s' % name for name in methods] + ['metrics']


def write_uri_playbook(path, methods, timeout):
    rpc_tasks = ''
    for number, method in enumerate(methods, 1):
        rpc_tasks += (
            '    - name: rpc %s\n'
            '      ansible.builtin.uri:\n'
            '        url: "{{ chainops_rpc_url }}"\n'
            '        method: POST\n'
            '        body_format: json\n'
            '        body: {jsonrpc: "2.0", id: %d, method: %s, params: []}\n'
            '        timeout: %d\n' % (method, number, method, timeout))
    path.write_text(
        '- name: Benchmark (b) uri tasks per host\n'
        '  hosts: bench_nodes\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - name: health\n'
        '      ansible.builtin.uri:\n'
        '        url: "{{ chainops_health_url }}"\n'
        '        status_code: [200, 503]\n'
        '        timeout: %d\n'
        '%s'
        '    - name: metrics\n'
        '      ansible.builtin.uri:\n'
        '        url: "{{ chainops_metrics_url }}"\n'
        '        return_content: true\n'
        '        timeout: %d\n' % (timeout, rpc_tasks, timeout), encoding='utf-8')


def shell_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def write_interpreter_wrapper(path, rss_file):
    """A python 'interpreter' that runs the real one under maxrss_exec.py (peak RSS of the module)."""
    words = (PYTHON, '-S', str(BENCH_DIR / 'maxrss_exec.py'), str(rss_file), PYTHON)
    path.write_text('#!/bin/sh\nexec %s "$@"\n' % ' '.join(shell_quote(word) for word in words), encoding='utf-8')
    path.chmod(0o755)


def ansible_env(tmp, capture_file, pipelining):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': str(REPO / 'build' / 'collections'),
        'ANSIBLE_CALLBACK_PLUGINS': str(BENCH_DIR / 'callback_plugins'),
        'ANSIBLE_CALLBACKS_ENABLED': 'bench_capture',
        'ANSIBLE_PIPELINING': 'true' if pipelining else 'false',
        'ANSIBLE_LOCAL_TEMP': str(tmp / 'ansible-local'),
        'ANSIBLE_REMOTE_TMP': str(tmp / 'ansible-remote'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'BENCH_CAPTURE_FILE': str(capture_file),
        'PATH': '%s%s%s' % (BIN_DIR, os.pathsep, os.environ.get('PATH', '')),
    })
    return env


def run_playbook(children, tmp, label, playbook, inventory, forks, pipelining, extra_vars=None, timeout=None):
    """Run ansible-playbook; return ``(wall seconds, captured results)``; output goes to a log file."""
    capture = tmp / ('%s.capture.json' % label)
    log_path = tmp / ('%s.log' % label)
    command = [str(ANSIBLE_PLAYBOOK), str(playbook), '-i', str(inventory), '-f', str(forks)]
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    with open(log_path, 'wb') as log:
        started = time.monotonic()
        proc = children.popen(command, group=True, cwd=str(REPO), env=ansible_env(tmp, capture, pipelining),
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            children.stop(proc)
            raise BenchError('%s: ansible-playbook took more than %ss; log: %s' % (label, timeout, log_path)) from None
        wall = time.monotonic() - started
        children.stop(proc)
    if rc != 0 or not capture.exists():
        tail = log_path.read_text(errors='replace')[-3000:]
        raise BenchError('%s: ansible-playbook exited %d; log %s ends with:\n%s' % (label, rc, log_path, tail))
    return wall, json.loads(capture.read_text())


# --------------------------------------------------------------------------- (a) and (b)

def probe_options(args):
    return {'concurrency': args.concurrency, 'deadline': args.deadline, 'timeout': args.timeout}


def run_fleet_probe(children, tmp, nodes, inventory, args):
    playbook = tmp / 'probe.yml'
    write_probe_playbook(playbook, probe_options(args))
    rss_file = tmp / 'module-rusage.jsonl'
    wrapper = tmp / 'python-maxrss'
    write_interpreter_wrapper(wrapper, rss_file)
    wall, capture = run_playbook(children, tmp, 'a-fleet-probe', playbook, inventory, args.forks, args.pipelining,
                                 extra_vars={'ansible_python_interpreter': str(wrapper)},
                                 timeout=args.deadline + 600)
    results = [r for r in capture['results'] if r['task'] == PROBE_TASK]
    if len(results) != 1 or results[0]['outcome'] != 'ok':
        raise BenchError('(a): expected one ok result of %r, got %s' % (PROBE_TASK, [r['outcome'] for r in results]))
    result = results[0]['result']
    task = next(t for t in capture['tasks'] if t['name'] == PROBE_TASK)
    usage = [json.loads(line) for line in rss_file.read_text().splitlines() if line.strip()] if rss_file.exists() else []
    if len(usage) != 1:
        raise BenchError('(a): expected one module process under %s, got %d' % (wrapper, len(usage)))
    return {
        'wall': wall,
        'module_elapsed': result['elapsed'],
        'task_seconds': task['end'] - task['start'],
        'module_process': usage[0],
        'check': check_fleet_probe(nodes, result),
    }


def check_fleet_probe(nodes, result):
    targets = result.get('targets', {})
    fleet = result.get('fleet', {})
    healthy = 0
    problems = []
    for node in nodes:
        report = targets.get(node['name'])
        if report is None:
            problems.append('%s: missing from targets' % node['name'])
            continue
        metrics = report.get('metrics') or {}
        if (report['status'] == 'healthy' and not report['errors'] and not report.get('declared_down')
                and report['height'] == node['height'] and report['peers'] == node['peers']
                and metrics.get('bitcell_chain_height') == node['height']
                and all(metrics.get(name) is not None for name in METRIC_NAMES)):
            healthy += 1
        else:
            problems.append('%s: %s (%s), height %s' % (node['name'], report['status'], report['reason'], report['height']))
    if fleet.get('total') != len(nodes) or fleet.get('healthy_count') != healthy:
        problems.insert(0, 'fleet summary: total=%s healthy_count=%s' % (fleet.get('total'), fleet.get('healthy_count')))
        healthy = min(healthy, fleet.get('healthy_count') or 0)
    return {'healthy': healthy, 'total': len(nodes), 'problems': problems[:10]}


def run_uri(children, tmp, nodes, methods, inventory, args):
    playbook = tmp / 'uri.yml'
    write_uri_playbook(playbook, methods, int(args.timeout))
    wall, capture = run_playbook(children, tmp, 'b-uri', playbook, inventory, args.forks, args.pipelining,
                                 timeout=args.uri_timeout)
    return {'wall': wall, 'check': check_uri(nodes, methods, capture['results'])}


def check_uri(nodes, methods, results):
    by_host = {}
    for entry in results:
        by_host.setdefault(entry['host'], {})[entry['task']] = entry
    healthy = 0
    problems = []
    for node in nodes:
        tasks = by_host.get(node['name'], {})
        missing = [name for name in uri_task_names(methods) if tasks.get(name, {}).get('outcome') != 'ok']
        if missing:
            problems.append('%s: not ok: %s' % (node['name'], ', '.join(missing)))
            continue
        health = tasks['health']['result']
        found = [] if health.get('status') == 200 and (health.get('json') or {}).get('status') == 'ok' else ['health']
        found += [rpc_problem(node, name, tasks['rpc %s' % name]['result'].get('json')) for name in methods]
        found.append(metrics_problem(node, tasks['metrics']['result'].get('content', '')))
        found = [problem for problem in found if problem]
        if found:
            problems.append('%s: %s' % (node['name'], '; '.join(found)))
        else:
            healthy += 1
    return {'healthy': healthy, 'total': len(nodes), 'problems': problems[:10]}


# --------------------------------------------------------------------------- one size

def bench_size(children, row, args):
    """Fill ``row`` (``{'n': N}``) with the measurements of size N, as far as they get."""
    count = row['n']
    tmp = Path(tempfile.mkdtemp(prefix='bench-probe-%d-' % count))
    server = None
    try:
        with open(tmp / 'fake_fleet.log', 'wb') as log:
            server = FleetServer(children, count, log)
        nodes = server.info['nodes']
        row['port'] = server.info['port']
        inventory = tmp / 'hosts.yml'
        write_inventory(inventory, nodes)
        say('N=%d: %d fake nodes on 127.0.100.1..%s port %d (pid %d)'
            % (count, count, url_host_port(nodes[-1]['rpc_url'])[0], server.info['port'], server.proc.pid))
        server.stats()  # start counting from zero

        row['a'] = run_fleet_probe(children, tmp, nodes, inventory, args)
        row['a']['server'] = server.stats()
        proc = row['a']['module_process']
        say('  (a)  fleet_probe          %8.2fs  healthy %d/%d  (module elapsed %.2fs, task %.2fs; module process: '
            '%.2fs wall, %.2fs CPU, %.1f MiB max RSS)'
            % (row['a']['wall'], row['a']['check']['healthy'], count, row['a']['module_elapsed'],
               row['a']['task_seconds'], proc['wall'], proc['utime'] + proc['stime'], proc['maxrss_kib'] / 1024.0))
        require_all_healthy('(a) fleet_probe', count, row['a']['check'])
        methods, unusual = request_mix(count, row['a']['server'])
        row['rpc_methods'] = methods
        say('       requests per node, as the fake fleet counted them for (a) and the others repeat them: %s'
            % ', '.join([HEALTH_KIND] + [RPC_KIND + name for name in methods] + [METRICS_KIND]))
        if unusual:
            say('       note: (a) also made %s (retries, or requests not on every node)' % unusual)
        row['notes'] = ['(a) also made %s' % unusual] if unusual else []

        seconds, check = run_floor_async(nodes, methods, args.floor_concurrency, args.timeout)
        row['c'] = {'seconds': seconds, 'check': check, 'server': server.stats()}
        say('  (c)  asyncio floor        %8.2fs  healthy %d/%d' % (seconds, check['healthy'], count))
        require_all_healthy('(c) asyncio floor', count, check)

        seconds, check = run_floor_threads(nodes, methods, args.concurrency, args.timeout)
        row['c_threads'] = {'seconds': seconds, 'check': check, 'server': server.stats()}
        say("  (c') thread-pool floor    %8.2fs  healthy %d/%d" % (seconds, check['healthy'], count))
        require_all_healthy("(c') thread-pool floor", count, check)

        if args.skip_uri_above is not None and count > args.skip_uri_above:
            row['b'] = None
            say('  (b)  uri per host         skipped (N > --skip-uri-above %d)' % args.skip_uri_above)
        else:
            row['b'] = run_uri(children, tmp, nodes, methods, inventory, args)
            row['b']['server'] = server.stats()
            say('  (b)  uri per host         %8.2fs  healthy %d/%d'
                % (row['b']['wall'], row['b']['check']['healthy'], count))
            require_all_healthy('(b) uri per host', count, row['b']['check'])
        for label, key in (('(c)', 'c'), ("(c')", 'c_threads'), ('(b)', 'b')):
            note = check_counts(label, count, methods, row[key]['server']) if row[key] else None
            if note:
                row['notes'].append(note)
                say('  note: ' + note)
    finally:
        if server is not None:
            children.stop(server.proc)
        if args.keep_tmp:
            say('  kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- report

def ratio(num, den):
    return num / den if num is not None and den else None


def fmt(value, pattern='%.2f', width=8):
    return ('-' if value is None else pattern % value).rjust(width)


def summarize(rows):
    for row in rows:
        a_wall, a_mod = row['a']['wall'], row['a']['module_elapsed']
        b_wall = row['b']['wall'] if row['b'] else None
        c = row['c']['seconds']
        row['ratios'] = {
            'a_wall_over_c': ratio(a_wall, c),
            'a_elapsed_over_c': ratio(a_mod, c),
            'b_over_a_wall': ratio(b_wall, a_wall),
            'b_over_a_elapsed': ratio(b_wall, a_mod),
            'a_elapsed_over_c_threads': ratio(a_mod, row['c_threads']['seconds']),
        }


def print_table(rows):
    say('')
    say('seconds (wall clock, one run each); a = whole ansible-playbook, a.mod = fleet_probe "elapsed" return value')
    say('%6s %8s %8s %8s %8s %8s | %9s %9s %9s %9s | %8s | %s'
        % ('N', 'a', 'a.mod', 'b', 'c', "c'", 'a/c', 'a.mod/c', 'b/a', 'b/a.mod', 'RSS MiB', "healthy a/b/c/c'"))
    for row in rows:
        r = row['ratios']
        checks = [row['a']['check'], row['b']['check'] if row['b'] else None, row['c']['check'], row['c_threads']['check']]
        healthy = '/'.join('-' if chk is None else '%d' % chk['healthy'] for chk in checks)
        say('%6d %s %s %s %s %s | %s %s %s %s | %s | %s of %d'
            % (row['n'], fmt(row['a']['wall']), fmt(row['a']['module_elapsed']),
               fmt(row['b']['wall'] if row['b'] else None), fmt(row['c']['seconds']), fmt(row['c_threads']['seconds']),
               fmt(r['a_wall_over_c'], width=9), fmt(r['a_elapsed_over_c'], width=9),
               fmt(r['b_over_a_wall'], '%.1f', 9), fmt(r['b_over_a_elapsed'], '%.1f', 9),
               fmt(row['a']['module_process']['maxrss_kib'] / 1024.0, '%.1f'), healthy, row['n']))
    say('targets at N=1000: a.mod/c <= 1.5 (probe time against the floor) and b/a >= 50 (playbook wall against '
        'playbook wall); printed, not asserted')
    say('RSS = peak resident memory of the fleet_probe module process (os.wait4 ru_maxrss, see benchmarks/README.md)')


def machine_info():
    mem_kib = None
    try:
        with open('/proc/meminfo', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('MemTotal:'):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    try:
        from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel
    except ImportError:
        ansible_version = None
    return {
        'nproc': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
        'mem_total_gib': round(mem_kib / 1024.0 / 1024.0, 1) if mem_kib else None,
        'python': platform.python_version(),
        'ansible_core': ansible_version,
        'platform': platform.platform(),
        'loadavg_at_start': [round(load, 2) for load in os.getloadavg()],
    }


# --------------------------------------------------------------------------- main

def parse_sizes(text):
    try:
        sizes = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError('sizes must be comma-separated integers, e.g. 100,1000') from None
    if not sizes or any(size < 2 or size > 10000 for size in sizes):
        raise argparse.ArgumentTypeError('every size must be between 2 and 10000 (fleet_probe accepts 10000 targets)')
    return sizes


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--sizes', type=parse_sizes, default=parse_sizes('100,1000'), help='fleet sizes N (default 100,1000)')
    parser.add_argument('--forks', type=int, default=50, help='ansible forks for (b) (default 50)')
    parser.add_argument('--skip-uri-above', type=int, default=None, metavar='N',
                        help='skip (b) for sizes above N (default: never)')
    parser.add_argument('--output', type=Path, default=None, help='write every number to this JSON file')
    parser.add_argument('--concurrency', type=int, default=64,
                        help="fleet_probe concurrency, also the (c') thread-pool size (default 64)")
    parser.add_argument('--floor-concurrency', type=int, default=None,
                        help='requests in flight for the (c) asyncio floor (default: --concurrency)')
    parser.add_argument('--deadline', type=float, default=300.0, help='fleet_probe deadline in seconds (default 300)')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='per-request timeout of fleet_probe, uri and the floors (default 10)')
    parser.add_argument('--pipelining', action=argparse.BooleanOptionalAction, default=True,
                        help='ANSIBLE_PIPELINING for (a) and (b) (default: on, the fastest setting for uri)')
    parser.add_argument('--uri-timeout', type=float, default=4 * 3600.0,
                        help='give up on (b) after this many seconds (default 4 h)')
    parser.add_argument('--keep-tmp', action='store_true', help='keep inventories, playbooks, logs and captures')
    args = parser.parse_args(argv)
    if args.floor_concurrency is None:
        args.floor_concurrency = args.concurrency
    if not 1 <= args.concurrency <= 256:
        parser.error('--concurrency must be between 1 and 256 (fleet_probe limit)')
    if args.forks < 1 or args.floor_concurrency < 1:
        parser.error('--forks and --floor-concurrency must be at least 1')
    return args


def ensure_collection_link():
    if COLLECTION_LINK.exists():
        return
    say('collection link %s is missing: running make collection-link' % COLLECTION_LINK)
    subprocess.run(['make', '--no-print-directory', 'collection-link'], cwd=str(REPO), check=True)


def main(argv=None):
    args = parse_args(argv)
    if not ANSIBLE_PLAYBOOK.exists():
        say('no %s: run this with the venv python (.venv/bin/python benchmarks/bench_probe.py)' % ANSIBLE_PLAYBOOK)
        return 2
    ensure_collection_link()
    signal.signal(signal.SIGTERM, on_sigterm)
    info = machine_info()
    say('machine: nproc=%(nproc)s mem=%(mem_total_gib)s GiB python=%(python)s ansible-core=%(ansible_core)s '
        'loadavg=%(loadavg_at_start)s' % info)
    say('fleet_probe options: %s; floor: %d requests in flight; uri: forks %d, timeout %ds; pipelining %s'
        % (json.dumps(probe_options(args)), args.floor_concurrency, args.forks, int(args.timeout),
           'on' if args.pipelining else 'off'))
    children = Children()
    rows = []
    status = 0
    try:
        for count in args.sizes:
            rows.append({'n': count})
            bench_size(children, rows[-1], args)
    except KeyboardInterrupt:
        say('interrupted: stopping every process this benchmark started')
        status = 130
    except BenchError as exc:
        say('FAILED: %s' % exc)
        status = 1
    finally:
        children.stop_all()
    complete = [row for row in rows if 'b' in row]
    if complete:
        summarize(complete)
        print_table(complete)
    leftovers = [row['n'] for row in rows if row.get('port') and listening('http://127.0.100.1:%d/' % row['port'])]
    say('cleanup: %s' % ('still listening for N=%s' % leftovers if leftovers else 'every process stopped, nothing listening'))
    if args.output:
        doc = {'machine': info, 'options': {key: (str(value) if isinstance(value, Path) else value)
                                            for key, value in vars(args).items()}, 'rows': rows}
        args.output.write_text(json.dumps(doc, indent=2, default=str) + '\n', encoding='utf-8')
        say('results: %s' % args.output)
    return status or (1 if leftovers else 0)


if __name__ == '__main__':
    sys.exit(main())
