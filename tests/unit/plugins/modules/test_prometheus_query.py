# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""prometheus_query, run in-process and through real Ansible.

The server is ``fake_prometheus``: a stand-in that speaks the shape of the
Prometheus HTTP API (conftest.py), not Prometheus itself.  The lab test
tests/integration/test_prometheus_query_lab.py runs the same module against
the lab's real Prometheus.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml


from ansible_collections.chainops.runbooks.plugins.modules import prometheus_query
from helpers.module_main import run_module_main
from helpers.ansible_run import run_module as run_through_ansible


def run_module(monkeypatch, capsys, args, check_mode=False):
    return run_module_main(prometheus_query.main, monkeypatch, capsys, args, check_mode)


def test_instant_vector(monkeypatch, capsys, fake_prometheus):
    fake_prometheus.series = [({'job': 'bitcell-nodes', 'instance': 'n1'}, 1), ({'job': 'bitcell-nodes', 'instance': 'n2'}, 0)]
    result, code = run_module(monkeypatch, capsys, {'url': fake_prometheus.url, 'query': 'up{job="bitcell-nodes"}',
                                                    'time': 1700000000})
    assert code == 0 and result['changed'] is False
    assert result['result_type'] == 'vector' and result['query'] == 'up{job="bitcell-nodes"}'
    assert result['result'] == [
        {'metric': {'__name__': 'up', 'job': 'bitcell-nodes', 'instance': 'n1'}, 'timestamp': 1700000000.0, 'value': 1.0},
        {'metric': {'__name__': 'up', 'job': 'bitcell-nodes', 'instance': 'n2'}, 'timestamp': 1700000000.0, 'value': 0.0}]
    assert result['query_params'] == {'time': 1700000000.0} and result['prometheus_warnings'] == []
    assert result['elapsed'] >= 0


def test_range_matrix_in_check_mode(monkeypatch, capsys, fake_prometheus):
    fake_prometheus.series = [({'instance': 'n1'}, 5)]
    fake_prometheus.warnings = ['partial response']
    args = {'url': fake_prometheus.url, 'query': 'up', 'type': 'range', 'start': 1700000000, 'end': '1700000060',
            'step': '30s', 'timeout': 30, 'deadline': 60}
    result, code = run_module(monkeypatch, capsys, args, check_mode=True)
    assert code == 0 and result['changed'] is False
    assert result['result_type'] == 'matrix'
    assert result['result'][0]['values'] == [[1700000000.0, 5.0], [1700000030.0, 5.0], [1700000060.0, 5.0]]
    assert result['query_params'] == {'start': 1700000000.0, 'end': 1700000060.0, 'step': 30.0}
    assert result['prometheus_warnings'] == ['partial response']
    assert len(fake_prometheus.requests) == 1  # check mode queried for real


def test_scalar(monkeypatch, capsys, fake_prometheus):
    answer = {'status': 'success', 'data': {'resultType': 'scalar', 'result': [1700000000, '1']}}
    fake_prometheus.canned['scalar(1)'] = (200, answer)
    result, code = run_module(monkeypatch, capsys, {'url': fake_prometheus.url, 'query': 'scalar(1)'})
    assert code == 0 and result['result_type'] == 'scalar'
    assert result['result'] == {'timestamp': 1700000000.0, 'value': 1.0}


def test_unreachable_prometheus_fails_clearly(monkeypatch, capsys):
    result, code = run_module(monkeypatch, capsys, {'url': 'http://127.0.0.1:9', 'query': 'up', 'retries': 0})
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith('url=http://127.0.0.1:9 is unreachable: connection refused')
    assert 'exception' not in result and 'Traceback' not in result['msg']


def test_malformed_query_fails_with_prometheus_text_and_the_query(monkeypatch, capsys, fake_prometheus):
    result, code = run_module(monkeypatch, capsys, {'url': fake_prometheus.url, 'query': 'sum(up'})
    assert code == 1
    assert result['msg'].startswith("Prometheus rejected query='sum(up' (bad_data): 1:6: parse error")
    assert 'exception' not in result


@pytest.mark.parametrize('args, msg', [
    ({'url': 'prometheus:9090'}, "url='prometheus:9090' is not an http(s) URL"),
    ({'url': 'http://p:9090/api?x=1'}, "url='http://p:9090/api?x=1' is not allowed; give the Prometheus base URL"),
    ({'query': ''}, "query='' is not allowed; give a PromQL expression"),
    ({'timeout': 0}, 'timeout=0 is not allowed; timeout must be > 0 seconds'),
    ({'timeout': -1}, 'timeout=-1 is not allowed; timeout must be > 0 seconds'),
    ({'type': 'range', 'start': 'now-1h', 'step': 0}, 'step=0 is not allowed; step must be > 0 seconds'),
    ({'type': 'range', 'start': 'now-1h', 'step': '-1m'}, "step='-1m' is not allowed; step must be a number of seconds"),
    ({'type': 'range', 'start': 'now', 'end': 'now-1h', 'step': '1m'},
     "start='now' is not allowed with end='now-1h'; start must be before end"),
    ({'type': 'range', 'start': 1700000600, 'end': 1700000000, 'step': 60},
     'start=1700000600 is not allowed with end=1700000000; start must be before end'),
    ({'type': 'range', 'start': 'last tuesday', 'step': 60}, "start='last tuesday' is not allowed; start must be unix seconds"),
    ({'step': '1m'}, "step='1m' is only used with type=range"),
    ({'type': 'range', 'step': '1m'}, 'type is range but all of the following are missing: start'),
    ({'type': 'sideways'}, 'value of type must be one of: instant, range, got: sideways'),
    ({'token': 'secret-token', 'username': 'ops', 'password': 'secret-password'},
     'parameters are mutually exclusive: token|username'),
    ({'username': 'ops'}, 'parameters are required together: username, password'),
])
def test_bad_input_fails_with_a_clear_message(monkeypatch, capsys, fake_prometheus, args, msg):
    full = {'url': fake_prometheus.url, 'query': 'up'}
    full.update(args)
    result, code = run_module(monkeypatch, capsys, full)
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith(msg), result['msg']
    assert 'exception' not in result
    assert fake_prometheus.requests == []  # nothing was sent


def test_doc_matches_the_argument_spec():
    doc = yaml.safe_load(prometheus_query.DOCUMENTATION)
    spec = prometheus_query.argument_spec()
    fragment_options = {'timeout', 'deadline', 'concurrency', 'retries', 'retry_backoff', 'validate_certs'}
    assert set(doc['options']) | fragment_options == set(spec)
    for name, option in doc['options'].items():
        assert option.get('type') == spec[name]['type'], name
        assert option.get('default') == spec[name].get('default'), name
        assert option.get('choices') == spec[name].get('choices'), name
        assert bool(option.get('required')) == bool(spec[name].get('required')), name
    assert spec['password']['no_log'] is True and spec['token']['no_log'] is True


def test_secrets_never_show_through_ansible(fake_prometheus):
    """Through real Ansible at -vvv: the token, the password and a password in the URL stay hidden."""
    fake_prometheus.series = [({'instance': 'n1'}, 1)]
    fake_prometheus.warnings = ['partial response']
    url = fake_prometheus.url.replace('http://', 'http://viewer:Url-Pa55word@')
    run = run_through_ansible('chainops.runbooks.prometheus_query',
                              {'url': url, 'query': 'up', 'token': 'T0ken-Secret-123'}, verbosity=3)
    assert run.ok, run.stdout + run.stderr
    assert run.single['result'][0]['value'] == 1.0
    assert 'Prometheus: partial response' in run.stdout + run.stderr + json.dumps(run.single.get('warnings'))
    assert fake_prometheus.requests[-1][2]['Authorization'] == 'Bearer T0ken-Secret-123'
    text = run.stdout + run.stderr + json.dumps(run.results)
    assert 'T0ken-Secret-123' not in text and 'Url-Pa55word' not in text
    run = run_through_ansible('chainops.runbooks.prometheus_query',
                              {'url': fake_prometheus.url, 'query': 'up', 'username': 'u', 'password': 'Basic-Secret-456'},
                              verbosity=3)
    assert run.ok and 'Basic-Secret-456' not in run.stdout + run.stderr + json.dumps(run.results)


def test_fleet_group_defaults_reach_every_new_module(tmp_path, run_playbook, fake_prometheus, fake_node):
    """module_defaults for group/chainops.runbooks.fleet apply to prometheus_query, chain_progress and fleet_probe."""
    node = fake_node('node-1')
    node.node_info_peers = []
    inventory = textwrap.dedent('''
        all:
          vars:
            ansible_connection: local
          hosts:
            node-1: {chainops_region: us-east, chainops_rpc_url: "%s/"}
        ''' % node.base)
    out_file = tmp_path / 'result.json'
    playbook = textwrap.dedent('''
        - hosts: all
          gather_facts: false
          module_defaults:
            group/chainops.runbooks.fleet:
              timeout: 0
          tasks:
            - name: A group default of timeout=0 must reach prometheus_query
              chainops.runbooks.prometheus_query:
                url: "%(prom)s"
                query: up
              register: query_zero
              ignore_errors: true
            - name: And chain_progress
              chainops.runbooks.chain_progress:
                targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
                window: 0.2
                samples: 2
              register: chain_zero
              ignore_errors: true
            - name: Save the results
              ansible.builtin.copy:
                content: "{{ {'query': query_zero, 'chain': chain_zero} | to_json }}"
                dest: "%(out)s"
                mode: "0600"
        ''' % {'prom': fake_prometheus.url, 'out': out_file})
    proc = run_playbook(inventory, playbook)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out_file.read_text())
    assert result['query']['msg'] == 'timeout=0 is not allowed; timeout must be > 0 seconds'
    assert result['chain']['msg'] == 'timeout=0 is not allowed; timeout must be > 0 seconds'
