# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    DEFAULT_METRICS,
    EndpointResult,
    ProbeSettings,
    assess_target,
    call_with_retries,
    fan_out,
    plan_jobs,
    probe_argument_spec,
    probe_fleet,
    summarize_fleet,
    validate_metric_names,
    validate_probe_settings,
    validate_targets,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.http import ProbeError


def settings_params(**overrides):
    params = {name: spec['default'] for name, spec in probe_argument_spec().items()}
    params.update(overrides)
    return params


def error_of(func, *args):
    with pytest.raises(ChainopsError) as info:
        func(*args)
    return info.value.msg


# --- validation -----------------------------------------------------------

def test_probe_settings_defaults():
    settings = validate_probe_settings(settings_params())
    assert (settings.timeout, settings.deadline, settings.concurrency, settings.retries, settings.retry_backoff,
            settings.validate_certs) == (3.0, 20.0, 32, 1, 0.5, True)


@pytest.mark.parametrize('override, msg', [
    ({'timeout': 0.0}, 'timeout=0 is not allowed; timeout must be > 0 seconds'),
    ({'deadline': -2.0}, 'deadline=-2 is not allowed; deadline must be > 0 seconds'),
    ({'concurrency': 0}, 'concurrency=0 is not allowed; concurrency must be between 1 and 256'),
    ({'concurrency': 1000}, 'concurrency=1000 is not allowed; concurrency must be between 1 and 256'),
    ({'retries': 6}, 'retries=6 is not allowed; retries must be between 0 and 5'),
    ({'retry_backoff': -0.1}, 'retry_backoff=-0.1 is not allowed; retry_backoff must be between 0 and 60 seconds'),
    ({'timeout': float('nan')}, 'timeout=nan is not allowed; timeout must be a finite number of seconds'),
])
def test_probe_settings_messages(override, msg):
    assert error_of(validate_probe_settings, settings_params(**override)) == msg


def test_targets_must_not_be_empty():
    assert error_of(validate_targets, []).startswith('targets must not be empty')


def test_targets_messages():
    good = {'name': 'a', 'rpc_url': 'http://127.0.0.1:1/'}
    assert error_of(validate_targets, [good, {'name': 'b', 'health_url': 'http://h/'}, {'name': 'c', 'rpc_url': 'ftp:/x'}]) \
        .startswith("targets[2].rpc_url='ftp:/x' is not an http(s) URL")
    assert error_of(validate_targets, [good, dict(good)]) == \
        "targets[1].name='a' is a duplicate of targets[0].name; target names must be unique"
    assert error_of(validate_targets, [{'name': 'x'}]) == \
        "targets[0] (name='x') has no rpc_url, health_url or metrics_url; set at least one of them"
    assert error_of(validate_targets, [{'name': '  ', 'rpc_url': 'http://h/'}]) == \
        "targets[0].name='  ' is not allowed; name must be a non-empty string"
    assert error_of(validate_targets, [{'name': 'y', 'region': '', 'rpc_url': 'http://h/'}]).startswith("targets[0].region=''")


def test_targets_are_normalised():
    assert validate_targets([{'name': 'a', 'metrics_url': 'https://m/metrics'}]) == [
        {'name': 'a', 'region': None, 'rpc_url': None, 'health_url': None, 'metrics_url': 'https://m/metrics'}]


def test_metric_names():
    assert validate_metric_names(None) == list(DEFAULT_METRICS)
    assert validate_metric_names(['a', 'b', 'a']) == ['a', 'b']
    assert validate_metric_names([]) == []
    assert error_of(validate_metric_names, ['bad name!']) == \
        "metrics[0]='bad name!' is not a valid Prometheus metric name; names must match [a-zA-Z_:][a-zA-Z0-9_:]*"
    assert error_of(validate_metric_names, ['ok', '9x']).startswith("metrics[1]='9x'")


# --- plan and fan-out -----------------------------------------------------

def test_plan_jobs_health_first_then_rpc_then_metrics():
    targets = validate_targets([
        {'name': 'a', 'rpc_url': 'http://a/', 'health_url': 'http://a/health', 'metrics_url': 'http://a/metrics'},
        {'name': 'b', 'rpc_url': 'http://b/'},
    ])
    assert [(j.target, j.endpoint) for j in plan_jobs(targets)] == [
        ('a', 'health'), ('a', 'rpc'), ('b', 'rpc'), ('a', 'metrics')]


def test_fan_out_is_bounded_and_complete():
    lock = threading.Lock()
    state = {'now': 0, 'peak': 0}

    def worker(job):
        with lock:
            state['now'] += 1
            state['peak'] = max(state['peak'], state['now'])
        time.sleep(0.02)
        with lock:
            state['now'] -= 1
        return job * 2

    results = fan_out(list(range(20)), worker, 4, time.monotonic() + 5)
    assert results == {i: i * 2 for i in range(20)}
    assert 1 < state['peak'] <= 4


def test_fan_out_stops_at_the_deadline():
    started = time.monotonic()
    results = fan_out(list(range(10)), lambda job: time.sleep(0.15) or job, 2, started + 0.4)
    elapsed = time.monotonic() - started
    assert elapsed < 0.6
    assert 2 <= len(results) <= 6
    assert set(results) == set(range(len(results)))  # scheduled in order


def test_fan_out_reports_worker_exceptions_as_results():
    def worker(job):
        if job == 1:
            raise RuntimeError('bug')
        return job
    results = fan_out([0, 1, 2], worker, 2, time.monotonic() + 5)
    assert results[0] == 0 and results[2] == 2 and isinstance(results[1], RuntimeError)


def test_call_with_retries_backoff_is_exponential_and_bounded():
    sleeps = []
    calls = []

    def failing():
        calls.append(1)
        raise ProbeError('connection refused', retryable=True)

    with pytest.raises(ProbeError) as info:
        call_with_retries(failing, 3, 0.5, time.monotonic() + 100, sleep=sleeps.append)
    assert len(calls) == 4 and sleeps == [0.5, 1.0, 2.0]
    assert info.value.details['attempts'] == 4

    now = [0.0]
    sleeps.clear()
    calls.clear()

    def fake_sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(ProbeError) as info:
        call_with_retries(failing, 3, 0.5, 1.2, clock=lambda: now[0], sleep=fake_sleep)
    assert sleeps == [0.5]  # the second wait (1.0 s at t=0.5) would cross the deadline at t=1.2
    assert len(calls) == 2 and info.value.details['attempts'] == 2


def test_call_with_retries_does_not_retry_non_retryable():
    calls = []

    def failing():
        calls.append(1)
        raise ProbeError('JSON-RPC error -32601: Method not found', responded=True)

    with pytest.raises(ProbeError):
        call_with_retries(failing, 5, 0, time.monotonic() + 100)
    assert len(calls) == 1


def test_call_with_retries_returns_attempts():
    outcomes = [ProbeError('x', retryable=True), 'ok']

    def flaky():
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert call_with_retries(flaky, 1, 0, time.monotonic() + 10) == ('ok', 2)


# --- pure assessment and summary ------------------------------------------

TARGET = {'name': 'n', 'region': 'us-east', 'rpc_url': 'http://n/', 'health_url': 'http://n/health', 'metrics_url': None}


def test_assess_healthy():
    report = assess_target(TARGET, {
        'rpc': EndpointResult('rpc', True, latency_ms=2.0, data={'height': 10, 'peers': 4, 'syncing': False}),
        'health': EndpointResult('health', True, latency_ms=1.0, data={'healthy': True, 'reason': '', 'height': 9}),
    })
    assert report == {'region': 'us-east', 'reachable': True, 'healthy': True, 'status': 'healthy', 'reason': '',
                      'height': 10, 'peers': 4, 'syncing': False, 'latency_ms': 2.0, 'metrics': {}, 'errors': []}


def test_assess_health_reason_wins_and_errors_follow():
    report = assess_target(TARGET, {
        'rpc': EndpointResult('rpc', False, error='timed out after 3s (2 attempts)'),
        'health': EndpointResult('health', True, data={'healthy': False, 'reason': 'syncing: height 5 of 9'}),
    })
    assert report['status'] == 'unhealthy' and report['reachable']
    assert report['reason'] == 'syncing: height 5 of 9; rpc: timed out after 3s (2 attempts)'
    assert report['syncing'] is True
    assert report['errors'] == ['rpc: timed out after 3s (2 attempts)']


def test_assess_without_health_uses_rpc_syncing_and_peers():
    target = dict(TARGET, health_url=None)
    report = assess_target(target, {'rpc': EndpointResult('rpc', True, data={
        'height': 5, 'peers': 0, 'syncing': True, 'current_block': 5, 'highest_block': 9})})
    assert report['reason'] == 'syncing: height 5 of 9; no peers'
    assert report['status'] == 'unhealthy'


def test_assess_unreachable_and_deadline():
    report = assess_target(TARGET, {'rpc': EndpointResult('rpc', False, error='connection refused')})
    assert report['status'] == 'unreachable' and not report['reachable'] and not report['healthy']
    assert report['reason'] == 'rpc: connection refused; health: deadline exceeded'
    assert report['height'] is None and report['latency_ms'] is None
    report = assess_target(TARGET, {})
    assert report['reason'] == 'deadline exceeded'
    assert report['errors'] == ['rpc: deadline exceeded', 'health: deadline exceeded']


def report(region, status, height, peers=5):
    return {'region': region, 'status': status, 'healthy': status == 'healthy',
            'height': height if status != 'unreachable' else None,
            'peers': peers if status != 'unreachable' else None}


def test_summary_spread_lagging_low_peers_and_regions():
    results = {
        'e1': report('us-east', 'healthy', 100),
        'e2': report('us-east', 'healthy', 95),          # exactly lag_threshold behind: not lagging
        'w1': report('us-west', 'healthy', 94, peers=1),  # 6 behind: lagging, and low on peers
        'w2': report('us-west', 'unreachable', None),
        'u1': report('eu-west', 'unhealthy', 100, peers=0),
        'u2': report('eu-west', 'unreachable', None),
        'x1': report(None, 'healthy', 100),
    }
    fleet = summarize_fleet(results, lag_threshold=5, min_peers=2)
    assert fleet['max_height'] == 100 and fleet['min_height'] == 94 and fleet['height_spread'] == 6
    assert fleet['lagging'] == ['w1']
    assert fleet['low_peers'] == ['w1', 'u1']
    assert fleet['unreachable'] == ['w2', 'u2']
    assert fleet['unhealthy'] == ['u1']
    assert fleet['healthy_count'] == 4 and fleet['total'] == 7
    assert fleet['status'] == 'degraded'
    assert fleet['regions']['us-east'] == {'total': 2, 'healthy': 2, 'unhealthy': 0, 'unreachable': 0, 'lagging': 0,
                                           'low_peers': 0, 'max_height': 100, 'status': 'healthy'}
    assert fleet['regions']['us-west']['status'] == 'degraded'
    assert fleet['regions']['us-west']['max_height'] == 94
    assert fleet['regions']['eu-west']['status'] == 'down'
    assert fleet['regions']['unknown']['total'] == 1


def test_summary_without_heights():
    fleet = summarize_fleet({'a': report('r', 'unreachable', None)}, 5, 2)
    assert fleet['max_height'] is None and fleet['min_height'] is None and fleet['height_spread'] is None
    assert fleet['lagging'] == [] and fleet['status'] == 'down'
    assert fleet['regions']['r']['status'] == 'down'


def test_summary_all_healthy():
    fleet = summarize_fleet({'a': report('r', 'healthy', 7), 'b': report('r', 'healthy', 7)}, 0, 2)
    assert fleet['status'] == 'healthy' and fleet['height_spread'] == 0 and fleet['lagging'] == []


# --- end to end against local HTTP servers -------------------------------

def fast_settings(**overrides):
    values = dict(timeout=0.3, deadline=5.0, concurrency=8, retries=1, retry_backoff=0.05, validate_certs=True)
    values.update(overrides)
    return ProbeSettings(**values)


def test_probe_fleet_healthy_503_hanging_and_refused(fake_node, refused_url):
    good = fake_node('good', region='us-east', height=120, peers=4)
    sick = fake_node('sick', region='us-east', height=118, peers=0)
    sick.health_status, sick.health_reason = 503, 'no peers'
    slow = fake_node('slow', region='eu-west')
    slow.hang_seconds = 10
    targets = validate_targets([
        good.target(),
        sick.target(),
        {'name': 'slow', 'region': 'eu-west', 'health_url': slow.health_url},
        {'name': 'dead', 'region': 'eu-west', 'rpc_url': refused_url + '/', 'health_url': refused_url + '/health'},
    ])
    started = time.monotonic()
    out = probe_fleet(targets, ['bitcell_chain_height', 'bitcell_node_info'], fast_settings(), 5, 2)
    assert time.monotonic() - started < 2.5
    t = out['targets']
    assert list(t) == ['good', 'sick', 'slow', 'dead']

    assert t['good']['status'] == 'healthy' and t['good']['reason'] == '' and t['good']['errors'] == []
    assert (t['good']['height'], t['good']['peers'], t['good']['syncing']) == (120, 4, False)
    assert t['good']['metrics']['bitcell_chain_height'] == 120
    assert t['good']['metrics']['bitcell_node_info'] == [
        {'labels': {'node_id': 'good', 'region': 'us-east', 'version': '0.3.1'}, 'value': 1}]
    assert t['good']['latency_ms'] is not None

    assert t['sick']['status'] == 'unhealthy' and t['sick']['reachable'] and t['sick']['reason'] == 'no peers'
    assert t['sick']['peers'] == 0
    assert sick.count('/health') == 1  # a 503 with a reason is data, never retried

    assert t['slow']['status'] == 'unreachable'
    assert t['slow']['errors'] == ['health: timed out after 0.3s (2 attempts)']
    assert slow.count('/health') == 2

    assert t['dead']['status'] == 'unreachable'
    assert t['dead']['reason'] == 'rpc: connection refused (2 attempts); health: connection refused (2 attempts)'

    fleet = out['fleet']
    assert fleet['max_height'] == 120 and fleet['height_spread'] == 2 and fleet['lagging'] == []
    assert fleet['low_peers'] == ['sick']
    assert fleet['unreachable'] == ['slow', 'dead'] and fleet['unhealthy'] == ['sick']
    assert fleet['healthy_count'] == 1 and fleet['total'] == 4
    assert fleet['regions']['us-east']['status'] == 'degraded'
    assert fleet['regions']['eu-west']['status'] == 'down'
    assert out['elapsed'] > 0


def test_probe_fleet_lagging_and_syncing_over_rpc(fake_node):
    top = fake_node('top', height=500)
    behind = fake_node('behind', height=480)
    behind.syncing = (480, 500)
    targets = validate_targets([{'name': 'top', 'rpc_url': top.rpc_url}, {'name': 'behind', 'rpc_url': behind.rpc_url}])
    out = probe_fleet(targets, [], fast_settings(), 5, 2)
    assert out['fleet']['lagging'] == ['behind']
    assert out['targets']['behind']['reason'] == 'syncing: height 480 of 500'
    assert out['targets']['behind']['syncing'] is True
    assert out['targets']['top']['status'] == 'healthy'
    assert out['fleet']['regions']['unknown']['status'] == 'degraded'


def test_probe_fleet_deadline_marks_unfinished_targets(fake_node):
    slow = fake_node('slow')
    slow.hang_seconds = 10
    targets = validate_targets([{'name': 'n%d' % i, 'health_url': slow.health_url} for i in range(4)])
    started = time.monotonic()
    out = probe_fleet(targets, [], fast_settings(timeout=5.0, deadline=0.4, concurrency=1, retries=0), 5, 2)
    assert time.monotonic() - started < 1.0
    for name in ('n0', 'n1', 'n2', 'n3'):
        assert out['targets'][name]['status'] == 'unreachable'
        assert out['targets'][name]['reason'] == 'deadline exceeded'
    assert out['targets']['n3']['errors'] == ['health: deadline exceeded']
    assert slow.count() == 1  # concurrency 1: only the first request was ever sent


def test_probe_fleet_retry_recovers_transient_failure(fake_node):
    node = fake_node('flaky', height=42)
    node.fail_first = 1  # the first request (health) gets a bare 503... which is data for health
    targets = validate_targets([{'name': 'flaky', 'rpc_url': node.rpc_url, 'metrics_url': node.metrics_url}])
    out = probe_fleet(targets, ['bitcell_pending_txs'], fast_settings(concurrency=1), 5, 2)
    report_ = out['targets']['flaky']
    assert report_['status'] == 'healthy', report_
    assert report_['height'] == 42 and report_['metrics'] == {'bitcell_pending_txs': 12}
    assert node.count() == 5  # one failed + 3 JSON-RPC calls + metrics


def test_probe_fleet_no_retry_when_retries_is_zero(fake_node):
    node = fake_node('flaky')
    node.fail_first = 1
    targets = validate_targets([{'name': 'flaky', 'rpc_url': node.rpc_url}])
    out = probe_fleet(targets, [], fast_settings(retries=0), 5, 2)
    assert out['targets']['flaky']['status'] == 'unhealthy'
    assert out['targets']['flaky']['errors'] == ['rpc: eth_blockNumber: HTTP 503 Service Unavailable']
    # the later calls still answered
    assert out['targets']['flaky']['height'] is None and out['targets']['flaky']['peers'] == 3


def test_probe_fleet_metrics_only_target_and_bad_exposition(fake_node):
    node = fake_node('m', height=77, peers=5)
    broken = fake_node('broken')
    broken.metrics_text = 'bitcell_chain_height{oops 1\n'
    targets = validate_targets([{'name': 'm', 'metrics_url': node.metrics_url},
                                {'name': 'broken', 'metrics_url': broken.metrics_url}])
    out = probe_fleet(targets, ['bitcell_peer_count'], fast_settings(), 5, 2)
    assert out['targets']['m']['height'] == 77 and out['targets']['m']['peers'] == 5
    assert out['targets']['m']['metrics'] == {'bitcell_peer_count': 5}
    assert out['targets']['broken']['status'] == 'unhealthy'
    assert out['targets']['broken']['errors'][0].startswith('metrics: invalid Prometheus exposition (')


def test_probe_fleet_rpc_method_error_is_reported(fake_node):
    node = fake_node('n', height=9)
    node.rpc_errors['eth_syncing'] = (-32601, 'Method not found')
    targets = validate_targets([{'name': 'n', 'rpc_url': node.rpc_url, 'health_url': node.health_url}])
    out = probe_fleet(targets, [], fast_settings(), 5, 2)
    assert out['targets']['n']['errors'] == ['rpc: eth_syncing: JSON-RPC error -32601: Method not found']
    assert out['targets']['n']['status'] == 'unhealthy'
    assert out['targets']['n']['syncing'] is False  # from the health answer
