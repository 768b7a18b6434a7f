# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""chain_progress in-process: result shape, check mode, and every bad input."""

from __future__ import annotations

import json
import threading

import pytest
import yaml


from ansible_collections.chainops.runbooks.plugins.modules import chain_progress
from helpers.module_main import run_module_main


def run_module(monkeypatch, capsys, args, check_mode=False):
    return run_module_main(chain_progress.main, monkeypatch, capsys, args, check_mode)


def test_check_mode_samples_for_real(monkeypatch, capsys, fake_node):
    nodes = [fake_node(n, region=r, height=10) for n, r in (('e1', 'us-east'), ('e2', 'us-east'), ('w1', 'eu-west'))]
    nodes[0].node_info_peers, nodes[1].node_info_peers, nodes[2].node_info_peers = ['e2'], ['e1'], []
    stop = threading.Event()

    def produce_blocks():
        while not stop.wait(0.05):
            for n in nodes[:2]:
                n.height += 1

    producer = threading.Thread(target=produce_blocks, daemon=True)
    producer.start()
    try:
        args = {'targets': [n.target() for n in nodes], 'window': 1.0, 'samples': 2, 'timeout': 5, 'deadline': 20,
                'retries': 0}
        result, code = run_module(monkeypatch, capsys, args, check_mode=True)
    finally:
        stop.set()
        producer.join()
    assert code == 0 and result['changed'] is False and not result.get('failed')
    assert set(result) >= {'state', 'reason', 'likely_cause', 'evidence', 'recommended_action', 'height_start',
                           'height_end', 'height_delta', 'blocks_per_minute', 'window_observed', 'answered',
                           'unanswered', 'quorum', 'components', 'minority', 'forks', 'regions', 'targets', 'elapsed'}
    # w1 has no peers: a component of its own, while e1/e2 grow.
    assert result['state'] == 'partitioned', result['reason']
    assert result['minority'] == {'nodes': ['w1'], 'regions': {'eu-west': 1}}
    assert result['likely_cause'] == 'network_partition'
    assert result['quorum'] == 2
    assert list(result['targets']) == ['e1', 'e2', 'w1']
    assert all(n.count() > 0 for n in nodes)


def test_password_in_url_is_hidden(monkeypatch, capsys, refused_url):
    url = refused_url.replace('http://', 'http://alice:Sup3rSecretPw@') + '/'
    args = {'targets': [{'name': 'n', 'rpc_url': url}], 'window': 0.1, 'samples': 2, 'retries': 0}
    result, code = run_module(monkeypatch, capsys, args)
    assert code == 0 and result['state'] == 'unknown'
    assert 'Sup3rSecretPw' not in json.dumps(result)


TWO = [{'name': 'a', 'rpc_url': 'http://127.0.0.1:1/'}, {'name': 'b', 'rpc_url': 'http://127.0.0.1:1/'}]


@pytest.mark.parametrize('args, msg', [
    ({'targets': []}, 'targets must not be empty'),
    ({'targets': [{'name': 'a', 'rpc_url': 'localhost:8545'}]}, "targets[0].rpc_url='localhost:8545' is not an http(s) URL"),
    ({'targets': [{'name': 'a', 'health_url': 'http://h/health'}]},
     "targets[0] (name='a') has neither rpc_url nor metrics_url"),
    ({'targets': TWO + [{'name': 'a', 'rpc_url': 'http://h/'}]},
     "targets[2].name='a' is a duplicate of targets[0].name; target names must be unique"),
    ({'window': 0}, 'window=0 is not allowed; window must be > 0 seconds'),
    ({'window': -1}, 'window=-1 is not allowed; window must be > 0 seconds'),
    ({'samples': 1}, 'samples=1 is not allowed; samples must be between 2 and 1000'),
    ({'quorum': 0}, 'quorum=0 is not allowed; quorum must be between 1 and 2 (the number of targets)'),
    ({'quorum': 3}, 'quorum=3 is not allowed; quorum must be between 1 and 2 (the number of targets)'),
    ({'miner_count': 0}, 'miner_count=0 is not allowed; miner_count must be >= 1'),
    ({'min_peers': -1}, 'min_peers=-1 is not allowed; min_peers must be >= 0'),
    ({'timeout': 0}, 'timeout=0 is not allowed; timeout must be > 0 seconds'),
    ({'deadline': 5}, 'deadline=5 is not allowed with window=10; deadline bounds the whole call'),
    ({'window': 'soon'}, "argument 'window' is of type"),
])
def test_bad_input_fails_with_a_clear_message(monkeypatch, capsys, args, msg):
    full = {'targets': TWO}
    full.update(args)
    result, code = run_module(monkeypatch, capsys, full)
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith(msg), result['msg']
    assert 'exception' not in result and 'Traceback' not in result['msg']


def test_doc_matches_the_argument_spec():
    doc = yaml.safe_load(chain_progress.DOCUMENTATION)
    spec = chain_progress.argument_spec()
    fragment_options = {'timeout', 'deadline', 'concurrency', 'retries', 'retry_backoff', 'validate_certs'}
    assert set(doc['options']) | fragment_options == set(spec)
    for name, option in doc['options'].items():
        assert option.get('type') == spec[name]['type'], name
        assert option.get('default') == spec[name].get('default'), name
    assert set(doc['options']['targets']['suboptions']) == set(spec['targets']['options'])
    returned = yaml.safe_load(chain_progress.RETURN)
    causes = {'none', 'no_active_miners', 'network_partition', 'low_peers', 'unknown'}
    assert set(returned['likely_cause']['choices']) == causes
    assert set(returned['state']['choices']) == {'progressing', 'stalled', 'partitioned', 'forked', 'unknown'}
