# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet_probe's observers (direct, peers, prometheus) and the k-of-n verdict.

The Prometheus here is ``fake_prometheus``, a stand-in that speaks the shape
of the Prometheus HTTP API (see conftest.py), not Prometheus itself.
"""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    EndpointResult,
    ObserverSettings,
    ProbeSettings,
    match_up_series,
    observe_targets,
    parse_node_info,
    plan_jobs,
    plan_observer_jobs,
    probe_fleet,
    validate_observer_settings,
    validate_targets,
)


def report(reachable=True, reason='', metrics=None):
    return {'reachable': reachable, 'reason': reason, 'metrics': metrics or {}}


def info(node_id, peers):
    return {'node_id': node_id, 'region': None, 'height': 1, 'head_hash': '0x1', 'syncing': False, 'state': 'running',
            'peers': [{'id': p, 'region': None} for p in peers]}


TARGETS = [{'name': n, 'region': 'r', 'rpc_url': 'http://%s:8545/' % n, 'health_url': None,
            'metrics_url': 'http://%s:9101/metrics' % n} for n in ('a', 'b', 'c')]


def test_down_node_seen_by_direct_and_peers():
    reports = {'a': report(), 'b': report(), 'c': report(False, 'rpc: connection refused')}
    infos = {'a': info('a', ['b']), 'b': info('b', ['a'])}
    verdicts, errors = observe_targets(TARGETS, reports, infos, None, ObserverSettings(2))
    assert errors == {}
    assert verdicts['c'] == {'observers': {'direct': 'down', 'peers': 'down'}, 'down_votes': 2, 'declared_down': True,
                             'verdict': '2 of 2 observers say down (direct, peers); k=2 \u2192 down'}
    assert verdicts['a']['observers'] == {'direct': 'up', 'peers': 'up'} and not verdicts['a']['declared_down']


def test_isolated_but_alive_node_is_not_declared_down():
    reports = {'a': report(), 'b': report(), 'c': report()}
    infos = {'a': info('a', ['b']), 'b': info('b', ['a']), 'c': info('c', [])}
    verdicts, dummy = observe_targets(TARGETS, reports, infos, None, ObserverSettings(2))
    assert verdicts['c']['observers'] == {'direct': 'up', 'peers': 'down'}
    assert verdicts['c']['declared_down'] is False
    assert verdicts['c']['verdict'] == '1 of 2 observers say down (peers); k=2 \u2192 not down'


def test_without_other_peer_lists_the_peers_observer_is_unknown():
    reports = {'a': report(False, 'rpc: connection refused')}
    verdicts, dummy = observe_targets(TARGETS[:1], reports, {}, None, ObserverSettings(2))
    assert verdicts['a']['observers'] == {'direct': 'down', 'peers': 'unknown'}
    assert verdicts['a']['declared_down'] is False


def test_deadline_makes_direct_unknown():
    reports = {'a': report(False, 'deadline exceeded'), 'b': report()}
    verdicts, dummy = observe_targets(TARGETS[:2], reports, {'b': info('b', [])}, None, ObserverSettings(1))
    assert verdicts['a']['observers'] == {'direct': 'unknown', 'peers': 'down'}
    assert verdicts['a']['declared_down'] is True  # k=1: the peers observer alone decides


def test_peers_match_by_reported_node_id_or_metric_label():
    reports = {'a': report(), 'b': report(False, 'x'),
               'c': report(metrics={'bitcell_node_info': [{'labels': {'node_id': 'node-c'}, 'value': 1}]})}
    infos = {'a': info('node-a', ['node-c', 'b'])}
    verdicts, dummy = observe_targets(TARGETS, reports, infos, None, ObserverSettings(2))
    assert verdicts['c']['observers']['peers'] == 'up'
    assert verdicts['b']['observers']['peers'] == 'up'  # listed by its name: a node that just went down


def test_prometheus_observer():
    reports = {'a': report(), 'b': report(False, 'x'), 'c': report()}
    series = [{'metric': {'job': 'bitcell-nodes', 'instance': 'a'}, 'value': 1.0},
              {'metric': {'job': 'bitcell-nodes', 'instance': 'b'}, 'value': 0.0}]
    prom = EndpointResult('prometheus', True, None, data={'series': series})
    infos = {'a': info('a', ['c']), 'c': info('c', ['a'])}
    verdicts, errors = observe_targets(TARGETS, reports, infos, prom, ObserverSettings(2, 'http://p:9090'))
    assert errors == {}
    assert verdicts['a']['observers'] == {'direct': 'up', 'peers': 'up', 'prometheus': 'up'}
    assert verdicts['b']['observers'] == {'direct': 'down', 'peers': 'down', 'prometheus': 'down'}
    assert verdicts['b']['verdict'] == '3 of 3 observers say down (direct, peers, prometheus); k=2 \u2192 down'
    assert verdicts['c']['observers']['prometheus'] == 'unknown'


def test_unreachable_prometheus_is_an_observer_error_not_a_failure():
    reports = {'a': report(False, 'x')}
    prom = EndpointResult('prometheus', False, 'prometheus_url=http://p:9090 is unreachable: connection refused')
    verdicts, errors = observe_targets(TARGETS[:1], reports, {}, prom, ObserverSettings(2, 'http://p:9090'))
    assert errors == {'prometheus': 'prometheus_url=http://p:9090 is unreachable: connection refused'}
    assert verdicts['a']['observers'] == {'direct': 'down', 'peers': 'unknown', 'prometheus': 'unknown'}
    assert verdicts['a']['declared_down'] is False


def test_match_up_series_by_instance_host_port_and_node_labels():
    target = TARGETS[0]
    series = [{'metric': {'instance': 'a:9101'}, 'value': 1.0}, {'metric': {'instance': 'x', 'node': 'a'}, 'value': 0.0},
              {'metric': {'instance': 'node-a'}, 'value': 1.0}, {'metric': {'instance': 'b'}, 'value': 0.0}]
    assert match_up_series(target, 'node-a', series) == series[:3]
    assert match_up_series(target, None, series) == series[:2]


def test_parse_node_info():
    parsed = parse_node_info({'node_id': 'n1', 'region': 'us-east', 'height': '0x10', 'head_hash': '0xab',
                              'peers': [{'id': 'n2', 'region': 'eu'}, {'addr': 'x'}, 'junk'], 'syncing': False,
                              'state': 'running'})
    assert parsed == {'node_id': 'n1', 'region': 'us-east', 'height': 16, 'head_hash': '0xab',
                      'peers': [{'id': 'n2', 'region': 'eu'}], 'syncing': False, 'state': 'running'}
    for bad in ([], {'peers': 'x'}, None):
        with pytest.raises(ValueError):
            parse_node_info(bad)


def test_observer_jobs_and_the_legacy_plan_is_unchanged():
    targets = validate_targets([{'name': 'a', 'rpc_url': 'http://a/'}, {'name': 'b', 'health_url': 'http://b/h'}])
    assert [(j.target, j.endpoint) for j in plan_jobs(targets)] == [('b', 'health'), ('a', 'rpc')]
    jobs = plan_observer_jobs(targets, ObserverSettings(2, 'http://p:9090'))
    assert [(j.target, j.endpoint) for j in jobs] == [(None, 'prometheus'), ('a', 'node_info')]


@pytest.mark.parametrize('params, msg', [
    ({'down_quorum': 0}, 'down_quorum=0 is not allowed; down_quorum must be between 1 and 2 (the number of observers: '
                         'direct, peers)'),
    ({'down_quorum': 3}, 'down_quorum=3 is not allowed; down_quorum must be between 1 and 2 (the number of observers: '
                         'direct, peers); set prometheus_url to add the prometheus observer'),
    ({'down_quorum': 4, 'prometheus_url': 'http://p:9090'},
     'down_quorum=4 is not allowed; down_quorum must be between 1 and 3 (the number of observers: direct, peers, prometheus)'),
    ({'down_quorum': 2, 'prometheus_url': 'p:9090'}, "prometheus_url='p:9090' is not an http(s) URL"),
])
def test_observer_settings_errors(params, msg):
    with pytest.raises(ChainopsError) as info_:
        validate_observer_settings(params)
    assert info_.value.msg.startswith(msg)


def test_observer_settings():
    settings = validate_observer_settings({'down_quorum': 3, 'prometheus_url': 'http://p:9090/'})
    assert settings.observers == ['direct', 'peers', 'prometheus'] and settings.prometheus_url == 'http://p:9090'


def fast_settings(**overrides):
    values = dict(timeout=3.0, deadline=15.0, concurrency=16, retries=0, retry_backoff=0.0, validate_certs=True)
    values.update(overrides)
    return ProbeSettings(**values)


def test_probe_fleet_with_observers(fake_node, fake_prometheus, refused_url):
    a, b = fake_node('a'), fake_node('b')
    a.node_info_peers, b.node_info_peers = ['b'], ['a']
    fake_prometheus.series = [({'job': 'bitcell-nodes', 'instance': 'a'}, 1), ({'job': 'bitcell-nodes', 'instance': 'dead'}, 0)]
    targets = validate_targets([a.target(), b.target(), {'name': 'dead', 'rpc_url': refused_url + '/'}])
    out = probe_fleet(targets, [], fast_settings(), 5, 1, observe=ObserverSettings(2, fake_prometheus.url))
    t = out['targets']
    assert t['dead']['observers'] == {'direct': 'down', 'peers': 'down', 'prometheus': 'down'}
    assert t['dead']['declared_down'] is True and t['dead']['down_votes'] == 3
    assert t['a']['observers'] == {'direct': 'up', 'peers': 'up', 'prometheus': 'up'}
    assert t['b']['observers'] == {'direct': 'up', 'peers': 'up', 'prometheus': 'unknown'}
    assert t['a']['status'] == 'healthy' and t['a']['errors'] == []
    assert out['fleet']['declared_down'] == ['dead']
    assert out['fleet']['observers'] == ['direct', 'peers', 'prometheus'] and out['fleet']['down_quorum'] == 2
    assert out['fleet']['observer_errors'] == {}
    assert [r[1]['query'] for r in fake_prometheus.requests] == ['up']


def test_probe_fleet_node_info_failure_is_not_an_endpoint_error(fake_node, refused_url):
    plain = fake_node('plain')  # no bitcell_nodeInfo: a plain Ethereum node
    targets = validate_targets([plain.target()])
    out = probe_fleet(targets, [], fast_settings(), 5, 1,
                      observe=ObserverSettings(2, refused_url))
    assert out['targets']['plain']['status'] == 'healthy' and out['targets']['plain']['errors'] == []
    assert out['targets']['plain']['observers'] == {'direct': 'up', 'peers': 'unknown', 'prometheus': 'unknown'}
    assert out['fleet']['observer_errors']['prometheus'].startswith(
        'prometheus_url=%s is unreachable: connection refused' % refused_url)


def test_probe_fleet_without_observe_is_unchanged(fake_node):
    node = fake_node('n')
    node.node_info_peers = []
    out = probe_fleet(validate_targets([node.target()]), [], fast_settings(), 5, 1)
    assert 'observers' not in out['targets']['n'] and 'declared_down' not in out['fleet']
    assert node.count() == 5  # health, 3 JSON-RPC calls, metrics: no bitcell_nodeInfo
