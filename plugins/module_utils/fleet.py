# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet probing: validation, plan, concurrent fan-out and summary (private API).

The pieces are small functions so that each can be tested on its own:

* ``validate_probe_settings`` / ``validate_targets`` / ``validate_metric_names``
  check option values and raise ``ChainopsError`` with messages that name the
  argument, the value and what is allowed;
* ``plan_jobs`` turns targets into one job per configured endpoint;
* ``fan_out`` runs jobs on a bounded pool of daemon threads and stops at the
  overall deadline (unfinished jobs are simply absent from its result);
* ``probe_rpc`` / ``probe_health`` / ``probe_metrics`` probe one endpoint;
* ``assess_target`` and ``summarize_fleet`` are pure functions from endpoint
  results to the per-target and fleet-level report;
* ``probe_fleet`` glues them together for the ``fleet_probe`` module;
* with ``observe=ObserverSettings(...)`` it also asks every JSON-RPC endpoint
  for ``bitcell_nodeInfo`` (peer lists) and, with a Prometheus URL, queries
  ``up`` once, then ``observe_targets`` applies the k-of-n rule of
  ``observer.py`` to the ``direct``, ``peers`` and ``prometheus`` observers.

``probe_argument_spec()`` is the twin of the ``chainops.runbooks.probe`` doc
fragment (timeout, deadline, concurrency, retries, retry_backoff,
validate_certs).
"""

from __future__ import annotations

import collections
import threading
import time

from urllib.parse import urlsplit

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_http_url,
    check_int_range,
    check_metric_name,
    check_number,
    fmt_value,
    url_secrets,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.http import (
    ProbeError,
    http_get,
    jsonrpc_call,
)
from ansible_collections.chainops.runbooks.plugins.module_utils import metrics as metrics_utils
from ansible_collections.chainops.runbooks.plugins.module_utils import observer as observer_utils
from ansible_collections.chainops.runbooks.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    check_base_url,
)

__all__ = [
    'DEFAULT_METRICS',
    'ENDPOINTS',
    'EndpointResult',
    'Job',
    'ObserverSettings',
    'ProbeSettings',
    'assess_target',
    'call_with_retries',
    'fan_out',
    'match_up_series',
    'observe_targets',
    'parse_node_info',
    'plan_jobs',
    'plan_observer_jobs',
    'probe_argument_spec',
    'target_url_secrets',
    'targets_argument_spec',
    'probe_fleet',
    'probe_node_info',
    'probe_prometheus_up',
    'summarize_fleet',
    'validate_metric_names',
    'validate_observer_settings',
    'validate_probe_settings',
    'validate_targets',
]

DEFAULT_METRICS = (
    'bitcell_chain_height',
    'bitcell_peer_count',
    'bitcell_dht_peers',
    'bitcell_active_miners',
    'bitcell_banned_miners',
    'bitcell_proof_gen_time_seconds',
    'bitcell_pending_txs',
    'bitcell_txs_processed_total',
    'bitcell_last_block_timestamp_seconds',
    'bitcell_disk_free_bytes',
    'bitcell_disk_total_bytes',
    'bitcell_db_size_bytes',
    'bitcell_node_info',
)

# Scheduling order: the health check decides most statuses, so it goes first
# for every target, then JSON-RPC, then metrics.
ENDPOINTS = ('health', 'rpc', 'metrics')
URL_KEYS = {'rpc': 'rpc_url', 'health': 'health_url', 'metrics': 'metrics_url'}
# Order in which endpoints are reported and used as data sources.
REPORT_ORDER = ('rpc', 'health', 'metrics')

DEADLINE_EXCEEDED = 'deadline exceeded'
UNKNOWN_REGION = 'unknown'
MAX_TARGETS = 10000
HEALTHY_WORDS = ('ok', 'healthy', 'up', 'pass', 'passing')

METRICS_ACCEPT = 'text/plain;version=0.0.4;q=1.0, */*;q=0.1'
HEIGHT_METRIC = 'bitcell_chain_height'
PEERS_METRIC = 'bitcell_peer_count'


def target_url_secrets(targets):
    """Passwords embedded in the targets' URLs, for ``module.no_log_values``."""
    secrets = set()
    for target in targets or []:
        for key in ('rpc_url', 'health_url', 'metrics_url'):
            secrets.update(url_secrets(target.get(key)))
    return secrets


def targets_argument_spec():
    """The ``targets`` option shared by the modules that probe a list of nodes."""
    return dict(
        type='list',
        elements='dict',
        required=True,
        options=dict(
            name=dict(type='str', required=True),
            region=dict(type='str'),
            rpc_url=dict(type='str'),
            health_url=dict(type='str'),
            metrics_url=dict(type='str'),
        ),
    )


def probe_argument_spec():
    """Options shared by probe modules (twin of the ``probe`` doc fragment)."""
    return dict(
        timeout=dict(type='float', default=3.0),
        deadline=dict(type='float', default=20.0),
        concurrency=dict(type='int', default=32),
        retries=dict(type='int', default=1),
        retry_backoff=dict(type='float', default=0.5),
        validate_certs=dict(type='bool', default=True),
    )


class ProbeSettings:
    """Validated probe options."""

    __slots__ = ('timeout', 'deadline', 'concurrency', 'retries', 'retry_backoff', 'validate_certs')

    def __init__(self, timeout=3.0, deadline=20.0, concurrency=32, retries=1, retry_backoff=0.5, validate_certs=True):
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.concurrency = int(concurrency)
        self.retries = int(retries)
        self.retry_backoff = float(retry_backoff)
        self.validate_certs = bool(validate_certs)


def validate_probe_settings(params):
    """Check the ``probe_argument_spec`` options and return ``ProbeSettings``."""
    check_number('timeout', params['timeout'], minimum=0, exclusive_minimum=True, unit='seconds')
    check_number('deadline', params['deadline'], minimum=0, exclusive_minimum=True, unit='seconds')
    check_int_range('concurrency', params['concurrency'], minimum=1, maximum=256)
    check_int_range('retries', params['retries'], minimum=0, maximum=5)
    check_number('retry_backoff', params['retry_backoff'], minimum=0, maximum=60, unit='seconds')
    return ProbeSettings(params['timeout'], params['deadline'], params['concurrency'], params['retries'],
                         params['retry_backoff'], params['validate_certs'])


def validate_targets(targets):
    """Check the ``targets`` option; return normalised target dicts in input order."""
    if not isinstance(targets, list) or not targets:
        raise ChainopsError('targets must not be empty; give at least one target with a name and an rpc_url, health_url or metrics_url')
    if len(targets) > MAX_TARGETS:
        raise ChainopsError('targets has %d entries; at most %d targets are allowed per call' % (len(targets), MAX_TARGETS))
    seen = {}
    normalised = []
    for index, target in enumerate(targets):
        where = 'targets[%d]' % index
        if not isinstance(target, dict):
            raise ChainopsError('%s=%s is not allowed; each target must be a dict with name and URLs' % (where, fmt_value(target)))
        name = target.get('name')
        if not isinstance(name, str) or not name.strip():
            raise ChainopsError('%s.name=%s is not allowed; name must be a non-empty string' % (where, fmt_value(name)))
        if name in seen:
            raise ChainopsError('%s.name=%s is a duplicate of targets[%d].name; target names must be unique' % (
                where, fmt_value(name), seen[name]))
        seen[name] = index
        region = target.get('region')
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise ChainopsError('%s.region=%s is not allowed; region must be a non-empty string or omitted' % (where, fmt_value(region)))
        entry = {'name': name, 'region': region}
        for key in ('rpc_url', 'health_url', 'metrics_url'):
            url = target.get(key)
            if url is not None:
                check_http_url('%s.%s' % (where, key), url)
            entry[key] = url
        if not (entry['rpc_url'] or entry['health_url'] or entry['metrics_url']):
            raise ChainopsError('%s (name=%s) has no rpc_url, health_url or metrics_url; set at least one of them' % (
                where, fmt_value(name)))
        normalised.append(entry)
    return normalised


def validate_metric_names(names):
    """Check the ``metrics`` option; return the names without duplicates, in order."""
    if names is None:
        return list(DEFAULT_METRICS)
    result = []
    for index, name in enumerate(names):
        check_metric_name('metrics[%d]' % index, name)
        if name not in result:
            result.append(name)
    return result


class Job:
    """One endpoint of one target to probe."""

    __slots__ = ('index', 'target', 'endpoint', 'url')

    def __init__(self, index, target, endpoint, url):
        self.index = index
        self.target = target
        self.endpoint = endpoint
        self.url = url

    def __repr__(self):
        return 'Job(%r, %r)' % (self.target, self.endpoint)


def plan_jobs(targets):
    """One job per configured endpoint; health first for all targets, then rpc, then metrics."""
    jobs = []
    for endpoint in ENDPOINTS:
        for target in targets:
            url = target.get(URL_KEYS[endpoint])
            if url:
                jobs.append(Job(len(jobs), target['name'], endpoint, url))
    return jobs


class EndpointResult:
    """Outcome of probing one endpoint.

    ``responded``: an HTTP answer came back (the target is reachable);
    ``error``: why the endpoint gave no usable answer (None when it did);
    ``data``: what was learnt (height, peers, syncing, healthy, reason, metrics).
    """

    __slots__ = ('endpoint', 'responded', 'error', 'latency_ms', 'attempts', 'data')

    def __init__(self, endpoint, responded, error=None, latency_ms=None, attempts=1, data=None):
        self.endpoint = endpoint
        self.responded = responded
        self.error = error
        self.latency_ms = latency_ms
        self.attempts = attempts
        self.data = data or {}

    def __repr__(self):
        return 'EndpointResult(%r, responded=%r, error=%r, data=%r)' % (self.endpoint, self.responded, self.error, self.data)


def call_with_retries(func, retries, backoff, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """Call ``func()`` and retry retryable ``ProbeError``s.

    Up to ``retries`` extra attempts, waiting ``backoff * 2**(n-1)`` seconds
    before retry n, never past ``deadline_at``.  Returns ``(value, attempts)``;
    the final ``ProbeError`` carries ``attempts``.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return func(), attempt
        except ProbeError as exc:
            exc.details['attempts'] = attempt
            if not exc.retryable or attempt > retries:
                raise
            delay = backoff * (2 ** (attempt - 1))
            if clock() + delay >= deadline_at:
                raise
            if delay > 0:
                sleep(delay)


def _with_attempts(msg, attempts):
    return msg if attempts <= 1 else '%s (%d attempts)' % (msg, attempts)


def _attempts_of(exc):
    return exc.details.get('attempts', 1)


def _quantity(value):
    """A JSON-RPC hex quantity ('0x1a') as int; ValueError otherwise."""
    if isinstance(value, str) and value[:2].lower() == '0x' and len(value) > 2:
        return int(value[2:], 16)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError('not a hex quantity')


def _count(value):
    """A non-negative integer from a JSON value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    return None


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def probe_rpc(url, settings, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """eth_blockNumber, net_peerCount and eth_syncing over JSON-RPC."""
    data = {}
    errors = []
    responded = False
    latency = None
    attempts_total = 0
    for request_id, method in enumerate(('eth_blockNumber', 'net_peerCount', 'eth_syncing'), start=1):
        def call(method=method, request_id=request_id):
            return jsonrpc_call(url, method, timeout=settings.timeout, validate_certs=settings.validate_certs,
                                deadline_at=deadline_at, request_id=request_id, clock=clock)
        try:
            (result, call_latency), attempts = call_with_retries(call, settings.retries, settings.retry_backoff,
                                                                 deadline_at, clock=clock, sleep=sleep)
        except ProbeError as exc:
            attempts_total += _attempts_of(exc)
            responded = responded or exc.responded
            if not exc.responded:
                # Transport failure: the remaining calls would fail the same way.
                errors.append(_with_attempts(exc.msg, _attempts_of(exc)) if not responded
                              else '%s: %s' % (method, _with_attempts(exc.msg, _attempts_of(exc))))
                break
            errors.append('%s: %s' % (method, _with_attempts(exc.msg, _attempts_of(exc))))
            continue
        attempts_total += attempts
        responded = True
        if latency is None:
            latency = call_latency
        try:
            if method == 'eth_blockNumber':
                data['height'] = _quantity(result)
            elif method == 'net_peerCount':
                data['peers'] = _quantity(result)
            elif result is False:
                data['syncing'] = False
            elif isinstance(result, dict):
                data['syncing'] = True
                for key, field in (('currentBlock', 'current_block'), ('highestBlock', 'highest_block')):
                    if key in result:
                        data[field] = _quantity(result[key])
            else:
                raise ValueError('unexpected result')
        except ValueError:
            errors.append('%s: unexpected result %s' % (method, _short(result)))
    return EndpointResult('rpc', responded, '; '.join(errors) or None, latency, attempts_total, data)


def probe_health(url, settings, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """GET the health endpoint; any HTTP answer is data (503 + reason = unhealthy)."""
    def call():
        return http_get(url, timeout=settings.timeout, validate_certs=settings.validate_certs,
                        deadline_at=deadline_at, headers={'Accept': 'application/json'}, clock=clock)
    try:
        resp, attempts = call_with_retries(call, settings.retries, settings.retry_backoff, deadline_at, clock=clock, sleep=sleep)
    except ProbeError as exc:
        return EndpointResult('health', exc.responded, _with_attempts(exc.msg, _attempts_of(exc)), exc.latency_ms, _attempts_of(exc))
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = body.get('status')
    reason = body.get('reason')
    reason = reason.strip() if isinstance(reason, str) else ''
    if resp.ok:
        healthy = status is None or (isinstance(status, str) and status.strip().lower() in HEALTHY_WORDS)
        if not healthy and not reason:
            reason = 'status=%s' % (_short(status),)
    else:
        healthy = False
        if not reason:
            reason = 'HTTP %d%s' % (resp.status, (' ' + resp.reason) if resp.reason else '')
    data = {'healthy': healthy, 'reason': '' if healthy else reason, 'http_status': resp.status}
    for key in ('height', 'peers'):
        value = _count(body.get(key))
        if value is not None:
            data[key] = value
    return EndpointResult('health', True, None, resp.latency_ms, attempts, data)


def probe_metrics(url, settings, deadline_at, metric_names, clock=time.monotonic, sleep=time.sleep):
    """GET and parse the Prometheus endpoint; keep the requested metrics."""
    def call():
        resp = http_get(url, timeout=settings.timeout, validate_certs=settings.validate_certs,
                        deadline_at=deadline_at, headers={'Accept': METRICS_ACCEPT}, clock=clock)
        if not resp.ok:
            raise ProbeError('HTTP %d%s' % (resp.status, (' ' + resp.reason) if resp.reason else ''),
                             retryable=resp.status == 429 or resp.status >= 500, responded=True,
                             status=resp.status, latency_ms=resp.latency_ms)
        return resp
    try:
        resp, attempts = call_with_retries(call, settings.retries, settings.retry_backoff, deadline_at, clock=clock, sleep=sleep)
    except ProbeError as exc:
        return EndpointResult('metrics', exc.responded, _with_attempts(exc.msg, _attempts_of(exc)), exc.latency_ms, _attempts_of(exc))
    if not metrics_utils.HAS_PROMETHEUS_CLIENT:
        return EndpointResult('metrics', True, None, resp.latency_ms, attempts, {'metrics': {}})
    try:
        expo = metrics_utils.parse_exposition(resp.text())
    except ChainopsError as exc:
        return EndpointResult('metrics', True, exc.msg, resp.latency_ms, attempts)
    data = {'metrics': metrics_utils.extract_metrics(expo, metric_names)}
    height = metrics_utils.scalar(expo, HEIGHT_METRIC)
    peers = metrics_utils.scalar(expo, PEERS_METRIC)
    if _count(height) is not None:
        data['height'] = _count(height)
    if _count(peers) is not None:
        data['peers'] = _count(peers)
    return EndpointResult('metrics', True, None, resp.latency_ms, attempts, data)


def _node_id(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_node_info(result):
    """Normalise a ``bitcell_nodeInfo`` result; ValueError when it is not one.

    Returns ``{node_id, region, height, head_hash, peers: [{id, region}], syncing, state}``;
    peers without an id are dropped.
    """
    if not isinstance(result, dict):
        raise ValueError('expected an object')
    peers = result.get('peers')
    if not isinstance(peers, list):
        raise ValueError('peers is not a list')
    normalised = []
    for peer in peers:
        if isinstance(peer, dict) and _node_id(peer.get('id')):
            region = peer.get('region')
            normalised.append({'id': _node_id(peer['id']), 'region': region if isinstance(region, str) and region else None})
    height = result.get('height')
    try:
        height = _quantity(height) if height is not None else None
    except ValueError:
        height = None
    head = result.get('head_hash')
    syncing = result.get('syncing')
    state = result.get('state')
    region = result.get('region')
    return {
        'node_id': _node_id(result.get('node_id')),
        'region': region if isinstance(region, str) and region else None,
        'height': height,
        'head_hash': head if isinstance(head, str) and head else None,
        'peers': normalised,
        'syncing': syncing if isinstance(syncing, bool) else None,
        'state': state if isinstance(state, str) else None,
    }


def probe_node_info(url, settings, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """``bitcell_nodeInfo`` over JSON-RPC: identity, head and peer list of one node."""
    def call():
        return jsonrpc_call(url, 'bitcell_nodeInfo', timeout=settings.timeout, validate_certs=settings.validate_certs,
                            deadline_at=deadline_at, request_id=4, clock=clock)
    try:
        (result, latency), attempts = call_with_retries(call, settings.retries, settings.retry_backoff, deadline_at,
                                                        clock=clock, sleep=sleep)
    except ProbeError as exc:
        return EndpointResult('node_info', exc.responded, _with_attempts(exc.msg, _attempts_of(exc)), exc.latency_ms,
                              _attempts_of(exc))
    try:
        info = parse_node_info(result)
    except ValueError as exc:
        return EndpointResult('node_info', True, 'bitcell_nodeInfo: unexpected result %s (%s)' % (_short(result), exc),
                              latency, attempts)
    return EndpointResult('node_info', True, None, latency, attempts, {'node_info': info})


def probe_prometheus_up(url, settings, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """The ``up`` series of a Prometheus server, as ``[{metric, value}]`` in data['series']."""
    try:
        client = PrometheusClient(url, timeout=settings.timeout, validate_certs=settings.validate_certs,
                                  retries=settings.retries, retry_backoff=settings.retry_backoff,
                                  deadline_at=deadline_at, clock=clock, sleep=sleep, url_name='prometheus_url')
        result_type, result, dummy = client.query('up')
    except PrometheusError as exc:
        return EndpointResult('prometheus', False, exc.msg)
    if result_type != 'vector':
        return EndpointResult('prometheus', True, 'prometheus_url: query up returned a %s, not a vector' % result_type)
    return EndpointResult('prometheus', True, None, data={'series': result})


def run_job(job, settings, deadline_at, metric_names, clock=time.monotonic, sleep=time.sleep):
    """Probe one endpoint; never raises."""
    try:
        if clock() >= deadline_at:
            return EndpointResult(job.endpoint, False, DEADLINE_EXCEEDED)
        if job.endpoint == 'rpc':
            return probe_rpc(job.url, settings, deadline_at, clock=clock, sleep=sleep)
        if job.endpoint == 'health':
            return probe_health(job.url, settings, deadline_at, clock=clock, sleep=sleep)
        if job.endpoint == 'node_info':
            return probe_node_info(job.url, settings, deadline_at, clock=clock, sleep=sleep)
        if job.endpoint == 'prometheus':
            return probe_prometheus_up(job.url, settings, deadline_at, clock=clock, sleep=sleep)
        return probe_metrics(job.url, settings, deadline_at, metric_names, clock=clock, sleep=sleep)
    except Exception as exc:  # a bug must not take the whole probe down; report it as this endpoint's error
        return EndpointResult(job.endpoint, False, 'internal error (%s: %s)' % (type(exc).__name__, exc))


def fan_out(jobs, worker, concurrency, deadline_at, clock=time.monotonic):
    """Run ``worker(job)`` for every job on at most ``concurrency`` threads.

    Workers stop taking jobs once ``clock()`` reaches ``deadline_at``; the call
    returns then at the latest, with ``{job position: result}`` for the jobs
    that finished.  The threads are daemons, so a request still hanging at the
    deadline cannot keep the module process alive.
    """
    queue = collections.deque(enumerate(jobs))
    results = {}
    done = threading.Condition()

    def loop():
        while True:
            with done:
                if not queue or clock() >= deadline_at:
                    return
                position, job = queue.popleft()
            try:
                outcome = worker(job)
            except Exception as exc:  # keep the worker alive; the caller sees the failure as a result
                outcome = exc
            with done:
                results[position] = outcome
                done.notify_all()

    threads = []
    for number in range(min(int(concurrency), len(jobs))):
        thread = threading.Thread(target=loop, name='chainops-probe-%d' % number)
        thread.daemon = True
        thread.start()
        threads.append(thread)
    with done:
        while len(results) < len(jobs):
            remaining = deadline_at - clock()
            if remaining <= 0:
                break
            done.wait(remaining)
        return dict(results)


def _region_key(region):
    return region if region else UNKNOWN_REGION


def assess_target(target, endpoint_results):
    """Per-target report from ``{endpoint: EndpointResult}`` (missing = unfinished).

    * ``unreachable``: no configured endpoint sent an HTTP answer;
    * ``unhealthy``: reachable, but the health endpoint says so, or an endpoint
      failed, or (without a health answer) JSON-RPC says syncing or 0 peers;
    * ``healthy``: otherwise.
    """
    errors = []
    reachable = False
    latency = None
    sources = []
    configured = [ep for ep in REPORT_ORDER if target.get(URL_KEYS[ep])]
    for endpoint in configured:
        result = endpoint_results.get(endpoint)
        if result is None:
            errors.append('%s: %s' % (endpoint, DEADLINE_EXCEEDED))
            continue
        if result.error:
            errors.append('%s: %s' % (endpoint, result.error))
        if result.responded:
            reachable = True
            if latency is None and result.latency_ms is not None:
                latency = result.latency_ms
        sources.append(result)

    def first(key):
        for source in sources:
            if source.data.get(key) is not None:
                return source.data[key]
        return None

    height = first('height')
    peers = first('peers')
    health = endpoint_results.get('health') if 'health' in configured else None
    health_answered = health is not None and 'healthy' in health.data
    rpc = endpoint_results.get('rpc') if 'rpc' in configured else None
    # Syncing if either JSON-RPC (eth_syncing) or the health reason says so; None when neither knows.
    votes = []
    if rpc is not None and rpc.data.get('syncing') is not None:
        votes.append(rpc.data['syncing'])
    if health_answered:
        votes.append(health.data['reason'].lower().startswith('syncing'))
    syncing = any(votes) if votes else None

    metrics = {}
    metrics_result = endpoint_results.get('metrics') if 'metrics' in configured else None
    if metrics_result is not None:
        metrics = metrics_result.data.get('metrics', {})

    if not reachable:
        status = 'unreachable'
        if errors and all(err.endswith(': ' + DEADLINE_EXCEEDED) for err in errors):
            reason = DEADLINE_EXCEEDED
        else:
            reason = '; '.join(errors)
    else:
        reasons = []
        if health_answered and not health.data['healthy']:
            reasons.append(health.data['reason'])
        reasons.extend(errors)
        if not health_answered:
            if syncing and rpc is not None:
                current = rpc.data.get('current_block', height)
                highest = rpc.data.get('highest_block')
                reasons.append('syncing: height %s of %s' % (
                    'unknown' if current is None else current, 'unknown' if highest is None else highest))
            if peers == 0:
                reasons.append('no peers')
        status = 'unhealthy' if reasons else 'healthy'
        reason = '; '.join(reasons)

    return {
        'region': target.get('region'),
        'reachable': reachable,
        'healthy': status == 'healthy',
        'status': status,
        'reason': reason,
        'height': height if reachable else None,
        'peers': peers if reachable else None,
        'syncing': syncing if reachable else None,
        'latency_ms': latency,
        'metrics': metrics,
        'errors': errors,
    }


def _group_status(total, healthy, attention):
    """'down' without a healthy target, 'healthy' when nothing needs attention, else 'degraded'."""
    if total == 0 or healthy == 0:
        return 'down'
    if attention == 0:
        return 'healthy'
    return 'degraded'


def summarize_fleet(results, lag_threshold, min_peers):
    """Fleet-level summary of ``{name: assess_target(...)}`` (in target order)."""
    heights = [r['height'] for r in results.values() if r['height'] is not None]
    max_height = max(heights) if heights else None
    min_height = min(heights) if heights else None
    lagging = [name for name, r in results.items()
               if r['height'] is not None and max_height - r['height'] > lag_threshold]
    low_peers = [name for name, r in results.items() if r['peers'] is not None and r['peers'] < min_peers]
    unreachable = [name for name, r in results.items() if r['status'] == 'unreachable']
    unhealthy = [name for name, r in results.items() if r['status'] == 'unhealthy']
    healthy = [name for name, r in results.items() if r['status'] == 'healthy']
    flagged = set(lagging) | set(low_peers)

    regions = {}
    for name, r in results.items():
        region = regions.setdefault(_region_key(r['region']), {
            'total': 0, 'healthy': 0, 'unhealthy': 0, 'unreachable': 0, 'lagging': 0, 'low_peers': 0,
            'max_height': None, '_attention': 0})
        region['total'] += 1
        region[r['status']] += 1
        if name in lagging:
            region['lagging'] += 1
        if name in low_peers:
            region['low_peers'] += 1
        if r['status'] != 'healthy' or name in flagged:
            region['_attention'] += 1
        if r['height'] is not None and (region['max_height'] is None or r['height'] > region['max_height']):
            region['max_height'] = r['height']
    for region in regions.values():
        region['status'] = _group_status(region['total'], region['healthy'], region.pop('_attention'))

    attention = len([name for name, r in results.items() if r['status'] != 'healthy' or name in flagged])
    return {
        'status': _group_status(len(results), len(healthy), attention),
        'total': len(results),
        'healthy_count': len(healthy),
        'max_height': max_height,
        'min_height': min_height,
        'height_spread': (max_height - min_height) if heights else None,
        'lagging': lagging,
        'low_peers': low_peers,
        'unreachable': unreachable,
        'unhealthy': unhealthy,
        'regions': regions,
    }


def needs_prometheus_client(targets, metric_names):
    """True when metrics were requested from at least one target."""
    return bool(metric_names) and any(t.get('metrics_url') for t in targets)


class ObserverSettings:
    """Options of the k-of-n node-down rule: ``down_quorum`` (k) and an optional Prometheus URL."""

    __slots__ = ('down_quorum', 'prometheus_url')

    def __init__(self, down_quorum=observer_utils.DEFAULT_DOWN_QUORUM, prometheus_url=None):
        self.down_quorum = down_quorum
        self.prometheus_url = prometheus_url

    @property
    def observers(self):
        """Observer names that vote, in the order they are reported."""
        return ['direct', 'peers'] + (['prometheus'] if self.prometheus_url else [])


def validate_observer_settings(params):
    """Check ``prometheus_url`` and ``down_quorum`` (k <= number of observers); return ``ObserverSettings``."""
    url = params.get('prometheus_url')
    if url is not None:
        url = check_base_url('prometheus_url', url)
    settings = ObserverSettings(params.get('down_quorum'), url)
    try:
        observer_utils.check_down_quorum(settings.down_quorum, settings.observers, 'down_quorum')
    except ChainopsError as exc:
        if url is None and isinstance(settings.down_quorum, int) and settings.down_quorum > len(settings.observers):
            raise ChainopsError(exc.msg + '; set prometheus_url to add the prometheus observer') from None
        raise
    return settings


def plan_observer_jobs(targets, observe, first_index=0):
    """The Prometheus ``up`` query (when configured), then ``bitcell_nodeInfo`` on every JSON-RPC endpoint."""
    jobs = []
    if observe.prometheus_url:
        jobs.append(Job(first_index, None, 'prometheus', observe.prometheus_url))
    for target in targets:
        if target.get('rpc_url'):
            jobs.append(Job(first_index + len(jobs), target['name'], 'node_info', target['rpc_url']))
    return jobs


def _url_hostports(target):
    """``host:port`` of every configured URL of a target (the usual Prometheus ``instance``)."""
    result = set()
    for key in ('metrics_url', 'health_url', 'rpc_url'):
        url = target.get(key)
        if not url:
            continue
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == 'https' else 80)
        except ValueError:
            continue
        if parts.hostname:
            result.add('%s:%d' % (parts.hostname, port))
    return result


def match_up_series(target, node_id, series):
    """The ``up`` samples that describe ``target``.

    A series matches when its ``instance`` (or ``node``, ``node_id``,
    ``nodename``) label is the target's name or node id, or its ``instance``
    is the ``host:port`` of one of the target's URLs.
    """
    names = {target['name']}
    if node_id:
        names.add(node_id)
    hostports = _url_hostports(target)
    matched = []
    for entry in series:
        labels = entry.get('metric') or {}
        ids = {labels.get(key) for key in ('instance', 'node', 'node_id', 'nodename')} - {None}
        if ids & names or labels.get('instance') in hostports:
            matched.append(entry)
    return matched


def _learned_node_id(target_name, report, node_info):
    """Node id from the target's own bitcell_nodeInfo, else its bitcell_node_info metric label."""
    if node_info and node_info.get('node_id'):
        return node_info['node_id']
    info = (report.get('metrics') or {}).get('bitcell_node_info')
    if isinstance(info, list):
        for sample in info:
            node_id = _node_id((sample.get('labels') or {}).get('node_id'))
            if node_id:
                return node_id
    return None


def observe_targets(targets, reports, node_infos, prometheus_result, observe):
    """Observer votes and the k-of-n verdict per target (pure).

    ``reports``: ``{name: assess_target(...)}``; ``node_infos``: ``{name:
    parse_node_info(...)}`` for the targets whose ``bitcell_nodeInfo``
    answered; ``prometheus_result``: the ``EndpointResult`` of the ``up``
    query, or None.  Returns ``{name: {observers, down_votes, declared_down,
    verdict}}`` and ``{observer: error}``.
    """
    node_ids = {t['name']: _learned_node_id(t['name'], reports[t['name']], node_infos.get(t['name'])) for t in targets}
    errors = {}
    series = None
    if observe.prometheus_url:
        if prometheus_result is None:
            errors['prometheus'] = 'prometheus_url: %s' % DEADLINE_EXCEEDED
        elif prometheus_result.error:
            errors['prometheus'] = prometheus_result.error
        else:
            series = prometheus_result.data.get('series') or []
    verdicts = {}
    for target in targets:
        name = target['name']
        report = reports[name]
        if report['reachable']:
            direct = observer_utils.UP
        elif report['reason'] == DEADLINE_EXCEEDED:
            direct = observer_utils.UNKNOWN
        else:
            direct = observer_utils.DOWN
        listers = [other for other in node_infos if other != name]
        if not listers:
            peers = observer_utils.UNKNOWN
        else:
            ids = {name, node_ids[name]} - {None}
            listed = any(peer['id'] in ids for other in listers for peer in node_infos[other]['peers'])
            peers = observer_utils.UP if listed else observer_utils.DOWN
        observers = {'direct': direct, 'peers': peers}
        if observe.prometheus_url:
            matched = match_up_series(target, node_ids[name], series) if series is not None else []
            if not matched:
                observers['prometheus'] = observer_utils.UNKNOWN
            elif any(entry.get('value') == 1 for entry in matched):
                observers['prometheus'] = observer_utils.UP
            else:
                observers['prometheus'] = observer_utils.DOWN
        decision = observer_utils.decide(observers, observe.down_quorum, k_name='down_quorum')
        verdicts[name] = {
            'observers': observers,
            'down_votes': decision['down_votes'],
            'declared_down': decision['declared_down'],
            'verdict': decision['verdict'],
        }
    return verdicts, errors


def probe_fleet(targets, metric_names, settings, lag_threshold, min_peers, clock=time.monotonic, sleep=time.sleep,
                observe=None):
    """Probe every target concurrently and summarise.

    ``targets`` come from ``validate_targets``.  Returns
    ``{'targets': {name: report}, 'fleet': summary, 'elapsed': seconds}``.
    With ``observe`` (``ObserverSettings``) every report also gets
    ``observers``, ``down_votes``, ``declared_down`` and ``verdict``, and the
    summary ``declared_down``, ``observers``, ``down_quorum`` and ``observer_errors``.
    """
    started = clock()
    deadline_at = started + settings.deadline
    jobs = plan_jobs(targets)
    if observe is not None:
        # The single Prometheus query goes first: it is one request that may take longest.
        extra = plan_observer_jobs(targets, observe)
        prometheus_jobs = [job for job in extra if job.endpoint == 'prometheus']
        jobs = prometheus_jobs + jobs + [job for job in extra if job.endpoint != 'prometheus']

    def worker(job):
        return run_job(job, settings, deadline_at, metric_names, clock=clock, sleep=sleep)

    finished = fan_out(jobs, worker, settings.concurrency, deadline_at, clock=clock)
    by_target = {}
    node_infos = {}
    prometheus_result = None
    for position, job in enumerate(jobs):
        outcome = finished.get(position)
        if isinstance(outcome, Exception):
            outcome = EndpointResult(job.endpoint, False, 'internal error (%s)' % type(outcome).__name__)
        if outcome is None:
            continue
        if job.endpoint == 'prometheus':
            prometheus_result = outcome
        elif job.endpoint == 'node_info':
            if outcome.data.get('node_info') is not None:
                node_infos[job.target] = outcome.data['node_info']
        else:
            by_target.setdefault(job.target, {})[job.endpoint] = outcome
    reports = {}
    for target in targets:
        reports[target['name']] = assess_target(target, by_target.get(target['name'], {}))
    fleet = summarize_fleet(reports, lag_threshold, min_peers)
    if observe is not None:
        verdicts, errors = observe_targets(targets, reports, node_infos, prometheus_result, observe)
        for name, verdict in verdicts.items():
            reports[name].update(verdict)
        fleet['declared_down'] = [name for name in reports if verdicts[name]['declared_down']]
        fleet['observers'] = observe.observers
        fleet['down_quorum'] = observe.down_quorum
        fleet['observer_errors'] = errors
    return {
        'targets': reports,
        'fleet': fleet,
        'elapsed': round(clock() - started, 3),
    }
