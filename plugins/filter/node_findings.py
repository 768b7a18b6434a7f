# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter ``chainops.runbooks.node_findings``; documented in node_findings.yml."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Runbook 000 thresholds (production); inventories scale them for a lab.
DEFAULTS = {
    'min_peers': 2,               # "No Peers": 0-1 connected peers
    'pending_txs_max': 1000,      # "High Pending Transactions": > 1000 pending
    'proof_time_max': 30.0,       # "High Proof Generation Time": > 30 seconds
    'disk_free_min_percent': 10.0,
}


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def node_findings(probe, container=None, thresholds=None):
    """Name the runbook conditions one node is in, from its fleet_probe result (and container state).

    Returns a list of ``{name, detail}``, most severe first, empty when nothing is wrong.
    """
    if not isinstance(probe, Mapping):
        raise AnsibleFilterError('node_findings: input must be one target of a fleet_probe result (a dict), got %s'
                                 % type(probe).__name__)
    limits = dict(DEFAULTS)
    unknown = sorted(set(thresholds or {}) - set(DEFAULTS))
    if unknown:
        raise AnsibleFilterError('node_findings: unknown thresholds %s; allowed: %s'
                                 % (', '.join(unknown), ', '.join(sorted(DEFAULTS))))
    limits.update(thresholds or {})
    metrics = probe.get('metrics') or {}
    container = container or {}
    findings = []

    def add(name, detail):
        findings.append({'name': name, 'detail': detail})

    if probe.get('declared_down'):
        add('NodeDown', probe.get('verdict') or 'declared down by the k-of-n observer rule')
    elif probe.get('status') == 'unreachable':
        add('Unreachable', '%s (not declared down: too few observers agree)' % (probe.get('reason') or 'no answer'))
    if container.get('restart_count') or container.get('restarting'):
        add('CrashLoop', 'docker restarted it %s times; state %s'
            % (container.get('restart_count'), container.get('status')))
    peers = _number(probe.get('peers'))
    if peers is not None and probe.get('status') != 'unreachable':
        if peers == 0:
            add('NoPeers', '0 peers')
        elif peers < limits['min_peers']:
            add('LowPeerCount', '%d peers < %d' % (peers, limits['min_peers']))
    reason = probe.get('reason') or ''
    if 'disk full' in reason:
        add('DiskFull', reason)
    free, total = _number(metrics.get('bitcell_disk_free_bytes')), _number(metrics.get('bitcell_disk_total_bytes'))
    if free is not None and total:
        percent = 100.0 * free / total
        if percent < limits['disk_free_min_percent']:
            add('DiskSpaceLow', '%.1f %% free < %s %%' % (percent, limits['disk_free_min_percent']))
    pending = _number(metrics.get('bitcell_pending_txs'))
    if pending is not None and pending > limits['pending_txs_max']:
        add('HighPendingTransactions', '%d pending > %d' % (pending, limits['pending_txs_max']))
    proof = _number(metrics.get('bitcell_proof_gen_time_seconds'))
    if proof is not None and proof > limits['proof_time_max']:
        detail = '%.3f s > %s s' % (proof, limits['proof_time_max'])
        if container.get('cpu_limit'):
            detail += '; CPU limit %s' % container['cpu_limit']
        add('HighProofGenerationTime', detail)
    if probe.get('syncing'):
        add('Syncing', reason or 'syncing')
    elif probe.get('status') == 'unhealthy' and not findings:
        add('Unhealthy', reason or 'unhealthy')
    return findings


class FilterModule:
    def filters(self):
        return {'node_findings': node_findings}
