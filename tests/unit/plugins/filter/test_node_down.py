# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The chainops.runbooks.node_down filter: the k-of-n rule for roles."""

from __future__ import annotations

import json
import textwrap

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chainops.runbooks.plugins.filter.node_down import FilterModule, node_down


def test_registered():
    assert FilterModule().filters() == {'node_down': node_down}


def test_brief_example():
    decision = node_down({'direct': 'down', 'prometheus': 'up'}, k=2)
    assert decision['declared_down'] is False and decision['down_votes'] == 1
    assert decision['verdict'] == '1 of 2 observers say down (direct); k=2 \u2192 not down'


def test_default_k_is_two():
    assert node_down({'direct': 'down', 'peers': 'down', 'prometheus': 'up'})['declared_down'] is True


@pytest.mark.parametrize('observations, k, msg', [
    ('down', 2, 'node_down: the input must be a dict of observer name to up, down or unknown'),
    ({}, 1, 'node_down: observations={} is not allowed'),
    ({'direct': 'down', 'peers': 'gone'}, 2, "node_down: observations.peers='gone' is not allowed"),
    ({'direct': 'down'}, 2, 'node_down: k=2 is not allowed; k must be between 1 and 1 (the number of observers: direct)'),
    ({'direct': 'down'}, 0, 'node_down: k=0 is not allowed'),
])
def test_errors(observations, k, msg):
    with pytest.raises(AnsibleFilterError) as info:
        node_down(observations, k)
    assert str(info.value.message).startswith(msg)


def test_in_a_playbook(tmp_path, run_playbook):
    out_file = tmp_path / 'out.json'
    playbook = textwrap.dedent('''
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: Apply the rule
              ansible.builtin.set_fact:
                one: "{{ {'direct': 'down', 'prometheus': 'up'} | chainops.runbooks.node_down(k=2) }}"
                two: "{{ {'direct': 'down', 'prometheus': 'up', 'peers': 'down'} | chainops.runbooks.node_down(k=2) }}"
            - name: Save
              ansible.builtin.copy:
                content: "{{ {'one': one, 'two': two} | to_json }}"
                dest: "%s"
                mode: "0600"
            - name: A bad k fails with the message
              ansible.builtin.debug:
                msg: "{{ {'direct': 'down'} | chainops.runbooks.node_down(k=3) }}"
        ''' % out_file)
    proc = run_playbook('all:\n  hosts:\n    localhost: {ansible_connection: local}\n', playbook)
    result = json.loads(out_file.read_text())
    assert result['one']['declared_down'] is False and result['one']['down_votes'] == 1
    assert result['two']['declared_down'] is True
    assert result['two']['verdict'] == '2 of 3 observers say down (direct, peers); k=2 \u2192 down'
    assert proc.returncode != 0
    assert 'node_down: k=3 is not allowed; k must be between 1 and 1' in proc.stdout
