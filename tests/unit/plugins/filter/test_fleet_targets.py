# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import textwrap

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chainops.runbooks.plugins.filter.fleet_targets import FilterModule, fleet_targets

HOSTVARS = {
    'node-1': {
        'inventory_hostname': 'node-1',
        'chainops_region': 'us-east',
        'chainops_rpc_url': 'http://10.0.0.11:8545/',
        'chainops_health_url': 'http://10.0.0.11:9090/health',
        'chainops_metrics_url': 'http://10.0.0.11:9090/metrics',
        'chainops_db_password': 'hunter2',
        'ansible_password': 'also-secret',
        'chainops_runtime': 'docker',
    },
    'node-2': {'chainops_region': 'eu-west', 'chainops_health_url': 'http://10.0.1.12:9090/health',
               'chainops_rpc_url': '', 'chainops_metrics_url': None},
    'db-1': {'chainops_region': 'us-east', 'postgres_password': 'pw'},
}


def test_filter_is_registered():
    assert FilterModule().filters()['fleet_targets'] is fleet_targets


def test_builds_targets_only_from_chainops_url_vars():
    targets = fleet_targets(HOSTVARS, ['node-1', 'node-2'])
    assert targets == [
        {'name': 'node-1', 'region': 'us-east', 'rpc_url': 'http://10.0.0.11:8545/',
         'health_url': 'http://10.0.0.11:9090/health', 'metrics_url': 'http://10.0.0.11:9090/metrics'},
        {'name': 'node-2', 'region': 'eu-west', 'health_url': 'http://10.0.1.12:9090/health'},
    ]
    text = json.dumps(targets)
    for secret in ('hunter2', 'also-secret', 'docker'):
        assert secret not in text


def test_hosts_order_duplicates_and_default():
    assert [t['name'] for t in fleet_targets(HOSTVARS, ['node-2', 'node-1', 'node-2'])] == ['node-2', 'node-1']
    assert [t['name'] for t in fleet_targets(HOSTVARS)] == ['node-1', 'node-2', 'db-1']
    assert fleet_targets(HOSTVARS, []) == []


def test_only_chainops_keys_are_read():
    class Watched(dict):
        seen = set()

        def __getitem__(self, key):
            Watched.seen.add(key)
            return dict.__getitem__(self, key)

    fleet_targets({'node-1': Watched(HOSTVARS['node-1'])}, ['node-1'])
    assert Watched.seen == {'chainops_region', 'chainops_rpc_url', 'chainops_health_url', 'chainops_metrics_url'}


@pytest.mark.parametrize('hostvars, hosts, msg', [
    (['node-1'], None, 'the input must be hostvars'),
    (HOSTVARS, 'node-1', 'hosts must be a list of host names'),
    (HOSTVARS, ['node-1', 3], 'hosts[1] must be a host name'),
    (HOSTVARS, ['ghost'], "hosts[0]='ghost' is not in hostvars"),
    ({'n': {'chainops_rpc_url': 8545}}, ['n'], 'host n has chainops_rpc_url of type int; it must be a string'),
])
def test_errors(hostvars, hosts, msg):
    with pytest.raises(AnsibleFilterError) as info:
        fleet_targets(hostvars, hosts)
    assert msg in str(info.value)


def test_with_real_hostvars_in_a_play(tmp_path, run_playbook):
    """The filter works on the real ``hostvars`` object of ansible-core."""
    out_file = tmp_path / 'targets.json'
    inventory = textwrap.dedent('''
        all:
          vars:
            ansible_connection: local
            base: http://127.0.0.1
          children:
            us-east:
              hosts:
                node-1:
                  chainops_region: us-east
                  chainops_rpc_url: "{{ base }}:8545/"
                  node_secret: do-not-leak
                node-2:
                  chainops_region: us-east
                  chainops_health_url: "{{ base }}:9091/health"
            db:
              hosts:
                pg-1:
                  pg_password: do-not-leak-either
        ''')
    playbook = textwrap.dedent('''
        - hosts: us-east
          gather_facts: false
          tasks:
            - name: Build targets
              ansible.builtin.copy:
                content: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) | to_json }}"
                dest: "%s"
                mode: "0600"
              run_once: true
        ''' % out_file)
    proc = run_playbook(inventory, playbook)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    targets = json.loads(out_file.read_text())
    assert targets == [
        {'name': 'node-1', 'region': 'us-east', 'rpc_url': 'http://127.0.0.1:8545/'},
        {'name': 'node-2', 'region': 'us-east', 'health_url': 'http://127.0.0.1:9091/health'},
    ]
