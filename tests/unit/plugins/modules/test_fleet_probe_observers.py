# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""fleet_probe's k-of-n options (prometheus_url, down_quorum), in-process.

``fake_prometheus`` is a stand-in that speaks the Prometheus HTTP API shape, not Prometheus.
"""

from __future__ import annotations

import json

import pytest
import yaml


from ansible_collections.chainops.runbooks.plugins.modules import fleet_probe
from helpers.module_main import run_module_main


def run_module(monkeypatch, capsys, args):
    return run_module_main(fleet_probe.main, monkeypatch, capsys, args)


def test_votes_per_target_and_fleet(monkeypatch, capsys, fake_node, fake_prometheus, refused_url):
    a, b = fake_node('a'), fake_node('b')
    a.node_info_peers, b.node_info_peers = ['b'], ['a']
    fake_prometheus.series = [({'instance': 'a'}, 1), ({'instance': 'b'}, 1), ({'instance': 'gone'}, 0)]
    args = {'targets': [a.target(), b.target(), {'name': 'gone', 'rpc_url': refused_url + '/'}],
            'metrics': [], 'retries': 0, 'timeout': 5, 'prometheus_url': fake_prometheus.url}
    result, code = run_module(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is False
    gone = result['targets']['gone']
    assert gone['observers'] == {'direct': 'down', 'peers': 'down', 'prometheus': 'down'}
    assert gone['down_votes'] == 3 and gone['declared_down'] is True
    assert gone['verdict'] == '3 of 3 observers say down (direct, peers, prometheus); k=2 \u2192 down'
    assert result['targets']['a']['declared_down'] is False and result['targets']['a']['down_votes'] == 0
    assert result['fleet']['declared_down'] == ['gone'] and result['fleet']['observer_errors'] == {}
    # The existing keys are still there.
    assert result['fleet']['unreachable'] == ['gone'] and result['targets']['a']['status'] == 'healthy'


def test_without_prometheus_two_observers_vote(monkeypatch, capsys, fake_node, refused_url):
    a = fake_node('a')
    a.node_info_peers = []
    args = {'targets': [a.target(), {'name': 'gone', 'rpc_url': refused_url + '/'}], 'metrics': [], 'retries': 0,
            'timeout': 5}
    result, code = run_module(monkeypatch, capsys, args)
    assert code == 0
    assert result['fleet']['observers'] == ['direct', 'peers'] and result['fleet']['down_quorum'] == 2
    assert result['targets']['gone']['observers'] == {'direct': 'down', 'peers': 'down'}
    assert result['fleet']['declared_down'] == ['gone']
    # a is alive but nobody lists it: one observer is not enough.
    assert result['targets']['a']['observers'] == {'direct': 'up', 'peers': 'unknown'}


def test_prometheus_password_never_shows(monkeypatch, capsys, fake_node, refused_url):
    a = fake_node('a')
    url = refused_url.replace('http://', 'http://ops:Pr0m-Secret@')
    result, code = run_module(monkeypatch, capsys, {'targets': [a.target()], 'metrics': [], 'retries': 0,
                                                    'prometheus_url': url})
    assert code == 0
    assert result['fleet']['observer_errors']['prometheus'].startswith('prometheus_url=http://ops:********@')
    assert 'Pr0m-Secret' not in json.dumps(result)


@pytest.mark.parametrize('args, msg', [
    ({'down_quorum': 0}, 'down_quorum=0 is not allowed; down_quorum must be between 1 and 2 (the number of observers: '
                         'direct, peers)'),
    ({'down_quorum': 3}, 'down_quorum=3 is not allowed; down_quorum must be between 1 and 2 (the number of observers: '
                         'direct, peers); set prometheus_url to add the prometheus observer'),
    ({'down_quorum': 4, 'prometheus_url': 'http://127.0.0.1:9090'},
     'down_quorum=4 is not allowed; down_quorum must be between 1 and 3'),
    ({'prometheus_url': 'prometheus:9090'}, "prometheus_url='prometheus:9090' is not an http(s) URL"),
    ({'prometheus_url': 'http://p:9090/api/v1/query?query=up'}, "prometheus_url='http://p:9090/api/v1/query?query=up' is not allowed"),
])
def test_bad_observer_input(monkeypatch, capsys, args, msg):
    full = {'targets': [{'name': 'x', 'rpc_url': 'http://127.0.0.1:1/'}]}
    full.update(args)
    result, code = run_module(monkeypatch, capsys, full)
    assert code == 1 and result['msg'].startswith(msg), result['msg']
    assert 'exception' not in result


def test_doc_matches_the_new_options():
    doc = yaml.safe_load(fleet_probe.DOCUMENTATION)
    spec = fleet_probe.argument_spec()
    assert doc['options']['down_quorum']['default'] == spec['down_quorum']['default'] == 2
    assert doc['options']['prometheus_url']['type'] == spec['prometheus_url']['type'] == 'str'
    returned = yaml.safe_load(fleet_probe.RETURN)
    assert {'observers', 'down_votes', 'declared_down', 'verdict'} <= set(returned['targets']['contains'])
    assert {'declared_down', 'observers', 'down_quorum', 'observer_errors'} <= set(returned['fleet']['contains'])
