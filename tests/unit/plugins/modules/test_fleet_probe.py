# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import textwrap

import pytest


from ansible_collections.chainops.runbooks.plugins.modules import fleet_probe
from helpers.module_main import run_module_main


def run_module(monkeypatch, capsys, args, check_mode=False):
    return run_module_main(fleet_probe.main, monkeypatch, capsys, args, check_mode)


def test_probe_result_shape_and_changed_false(monkeypatch, capsys, fake_node, refused_url):
    good = fake_node('good', region='us-east', height=50)
    sick = fake_node('sick', region='us-east', height=50)
    sick.health_status, sick.health_reason = 503, 'disk full'
    args = {
        'targets': [good.target(), sick.target(),
                    {'name': 'dead', 'region': 'eu-west', 'health_url': refused_url + '/health'}],
        'timeout': 0.5, 'deadline': 5, 'retries': 0,
    }
    result, code = run_module(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is False and not result.get('failed')
    assert set(result) >= {'targets', 'fleet', 'elapsed', 'changed', 'invocation'}
    assert list(result['targets']) == ['good', 'sick', 'dead']
    assert set(result['targets']['good']) == {'region', 'reachable', 'healthy', 'status', 'reason', 'height', 'peers',
                                              'syncing', 'latency_ms', 'metrics', 'errors',
                                              'observers', 'down_votes', 'declared_down', 'verdict'}
    assert set(result['targets']['good']['metrics']) == set(fleet_probe.DEFAULT_METRICS)
    assert result['targets']['good']['metrics']['bitcell_txs_processed_total'] == 4096
    assert result['targets']['sick']['reason'] == 'disk full'
    assert result['targets']['dead']['status'] == 'unreachable'
    assert result['fleet']['unreachable'] == ['dead'] and result['fleet']['unhealthy'] == ['sick']
    assert set(result['fleet']['regions']) == {'us-east', 'eu-west'}


def test_check_mode_probes_for_real(monkeypatch, capsys, fake_node):
    node = fake_node('n', height=7)
    result, code = run_module(monkeypatch, capsys, {'targets': [node.target()], 'metrics': []}, check_mode=True)
    assert code == 0 and result['changed'] is False
    assert result['targets']['n']['height'] == 7 and result['targets']['n']['status'] == 'healthy'
    assert node.count() > 0


def test_password_in_url_is_hidden(monkeypatch, capsys, refused_url):
    url = refused_url.replace('http://', 'http://alice:Sup3rSecretPw@') + '/'
    result, code = run_module(monkeypatch, capsys, {'targets': [{'name': 'n', 'rpc_url': url}], 'retries': 0})
    assert code == 0
    assert 'Sup3rSecretPw' not in json.dumps(result)


@pytest.mark.parametrize('args, msg', [
    ({'targets': []}, 'targets must not be empty'),
    ({'timeout': 0}, 'timeout=0 is not allowed; timeout must be > 0 seconds'),
    ({'deadline': 0}, 'deadline=0 is not allowed; deadline must be > 0 seconds'),
    ({'concurrency': 0}, 'concurrency=0 is not allowed; concurrency must be between 1 and 256'),
    ({'retries': 9}, 'retries=9 is not allowed; retries must be between 0 and 5'),
    ({'lag_threshold': -1}, 'lag_threshold=-1 is not allowed; lag_threshold must be >= 0 blocks'),
    ({'min_peers': -3}, 'min_peers=-3 is not allowed; min_peers must be >= 0'),
    ({'metrics': ['bad name!']}, "metrics[0]='bad name!' is not a valid Prometheus metric name"),
    ({'targets': [{'name': 'a', 'rpc_url': 'http://h/'}, {'name': 'b', 'rpc_url': 'http://h/'},
                  {'name': 'c', 'rpc_url': 'ftp:/x'}]}, "targets[2].rpc_url='ftp:/x' is not an http(s) URL"),
    ({'targets': [{'name': 'a', 'rpc_url': 'http://h/'}, {'name': 'a', 'health_url': 'http://h/'}]},
     "targets[1].name='a' is a duplicate of targets[0].name; target names must be unique"),
    ({'targets': [{'name': 'a'}]}, "targets[0] (name='a') has no rpc_url, health_url or metrics_url; set at least one of them"),
])
def test_bad_input_fails_with_a_clear_message(monkeypatch, capsys, args, msg):
    full = {'targets': [{'name': 'x', 'rpc_url': 'http://127.0.0.1:1/'}]}
    full.update(args)
    result, code = run_module(monkeypatch, capsys, full)
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith(msg)
    assert 'exception' not in result and 'Traceback' not in result['msg']


def test_missing_prometheus_client(monkeypatch, capsys):
    monkeypatch.setattr(fleet_probe, 'HAS_PROMETHEUS_CLIENT', False)
    monkeypatch.setattr(fleet_probe, 'PROMETHEUS_CLIENT_IMPORT_ERROR', 'ImportError: no prometheus_client')
    target = {'name': 'x', 'metrics_url': 'http://127.0.0.1:1/metrics'}
    result, code = run_module(monkeypatch, capsys, {'targets': [target]})
    assert code == 1 and 'prometheus-client' in result['msg']
    # Without requested metrics the library is not needed.
    result, code = run_module(monkeypatch, capsys, {'targets': [target], 'metrics': [], 'retries': 0})
    assert code == 0 and result['targets']['x']['status'] == 'unreachable'


def test_doc_defaults_match_the_argument_spec():
    import yaml

    doc = yaml.safe_load(fleet_probe.DOCUMENTATION)
    spec = fleet_probe.argument_spec()
    for name in ('metrics', 'lag_threshold', 'min_peers'):
        assert doc['options'][name]['default'] == spec[name]['default'], name


def test_runs_under_ansible_playbook(tmp_path, run_playbook, fake_node, refused_url):
    """Packaged by AnsiballZ and fed by the filter, in check mode, the module probes for real."""
    good = fake_node('node-1', region='us-east', height=300)
    sick = fake_node('node-2', region='us-east', height=290)
    sick.health_status, sick.health_reason = 503, 'syncing: height 290 of 300'
    inventory = textwrap.dedent('''
        all:
          vars:
            ansible_connection: local
          hosts:
            node-1: {chainops_region: us-east, chainops_rpc_url: "%(g)s/", chainops_health_url: "%(g)s/health",
                     chainops_metrics_url: "%(g)s/metrics", chainops_db_password: hunter2}
            node-2: {chainops_region: us-east, chainops_rpc_url: "%(s)s/", chainops_health_url: "%(s)s/health"}
            node-3: {chainops_region: eu-west, chainops_health_url: "%(r)s/health"}
        ''' % {'g': good.base, 's': sick.base, 'r': refused_url})
    out_file = tmp_path / 'result.json'
    playbook = textwrap.dedent('''
        - hosts: all
          gather_facts: false
          tasks:
            - name: Probe the fleet
              chainops.runbooks.fleet_probe:
                targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
                metrics: [bitcell_node_info]
                retries: 0
                timeout: 1
              run_once: true
              register: probe
            - name: Save the result
              ansible.builtin.copy:
                content: "{{ probe | to_json }}"
                dest: "%s"
                mode: "0600"
              run_once: true
              check_mode: false
        ''' % out_file)
    proc = run_playbook(inventory, playbook, '--check')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out_file.read_text())
    assert result['changed'] is False
    assert result['targets']['node-1']['status'] == 'healthy'
    assert result['targets']['node-1']['metrics']['bitcell_node_info'][0]['labels']['node_id'] == 'node-1'
    assert result['targets']['node-2']['reason'] == 'syncing: height 290 of 300'
    assert result['targets']['node-2']['syncing'] is True
    assert result['targets']['node-3']['status'] == 'unreachable'
    assert result['fleet']['lagging'] == ['node-2']
    assert result['fleet']['regions']['eu-west']['status'] == 'down'
    assert 'hunter2' not in out_file.read_text()
