# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_findings: the runbook's thresholds, decided from probe results."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.chainops.runbooks.plugins.filter.node_findings import node_findings


def healthy(**overrides):
    probe = dict(status='healthy', reason='', peers=4, syncing=False, declared_down=False,
                 metrics=dict(bitcell_disk_free_bytes=60e6, bitcell_disk_total_bytes=64e6, bitcell_pending_txs=12,
                              bitcell_proof_gen_time_seconds=0.05))
    probe.update(overrides)
    return probe


def names(findings):
    return [f['name'] for f in findings]


def test_a_healthy_node_has_no_findings():
    assert node_findings(healthy()) == []


def test_declared_down_is_node_down_and_one_observer_is_not():
    assert names(node_findings(healthy(status='unreachable', declared_down=True, verdict='2 of 3 say down')))[0] == 'NodeDown'
    assert names(node_findings(healthy(status='unreachable', declared_down=False))) == ['Unreachable']


@pytest.mark.parametrize('peers, expected', [(0, ['NoPeers']), (1, ['LowPeerCount']), (2, [])])
def test_peer_thresholds(peers, expected):
    assert names(node_findings(healthy(peers=peers))) == expected


def test_runbook_thresholds_are_strictly_greater():
    metrics = dict(bitcell_pending_txs=1000, bitcell_proof_gen_time_seconds=30.0)
    assert node_findings(healthy(metrics=metrics)) == []
    metrics = dict(bitcell_pending_txs=1001, bitcell_proof_gen_time_seconds=30.5)
    assert names(node_findings(healthy(metrics=metrics))) == ['HighPendingTransactions', 'HighProofGenerationTime']


def test_lab_thresholds_and_cpu_limit_in_the_detail():
    findings = node_findings(healthy(metrics=dict(bitcell_proof_gen_time_seconds=0.5)), {'cpu_limit': 0.1},
                             {'proof_time_max': 0.3})
    assert findings == [{'name': 'HighProofGenerationTime', 'detail': '0.500 s > 0.3 s; CPU limit 0.1'}]


def test_full_disk():
    probe = healthy(status='unhealthy', reason='disk full',
                    metrics=dict(bitcell_disk_free_bytes=0, bitcell_disk_total_bytes=64e6))
    assert names(node_findings(probe)) == ['DiskFull', 'DiskSpaceLow']


def test_crash_loop_from_the_container():
    assert names(node_findings(healthy(status='unreachable'), {'restart_count': 7, 'status': 'restarting'})) == [
        'Unreachable', 'CrashLoop']


def test_other_unhealthy_reasons_are_kept():
    assert node_findings(healthy(status='unhealthy', reason='starting')) == [{'name': 'Unhealthy', 'detail': 'starting'}]
    assert names(node_findings(healthy(status='unhealthy', reason='syncing: height 3 of 90', syncing=True))) == ['Syncing']


def test_bad_input_is_named():
    with pytest.raises(AnsibleFilterError, match='must be one target'):
        node_findings(['not', 'a', 'dict'])
    with pytest.raises(AnsibleFilterError, match='unknown thresholds proof_time; allowed: disk_free_min_percent'):
        node_findings(healthy(), thresholds={'proof_time': 1})
