# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Is the chain progressing?  Sampling and classification (private API).

Runbook 000, "Chain Not Progressing": check the height on several nodes over
time, then the miners (``bitcell_active_miners``, ``bitcell_banned_miners``)
and the peer connectivity (``bitcell_peer_count``).  This file does that in
two halves:

* ``sample_chain`` takes ``samples`` snapshots spread over ``window``
  seconds.  Each snapshot is one concurrent fan-out (``fleet.fan_out``) of
  ``eth_blockNumber`` and ``bitcell_nodeInfo`` on every JSON-RPC endpoint and
  a scrape of every metrics endpoint.
* ``classify`` is a pure function of those snapshots: it decides the state
  (``progressing``, ``stalled``, ``partitioned``, ``forked`` or ``unknown``),
  builds the peer graph and its connected components, and picks the runbook's
  likely cause (``no_active_miners``, ``network_partition``, ``low_peers``,
  ``unknown``; ``none`` while the chain progresses) with its evidence and the
  runbook's recommended action.
"""

from __future__ import annotations

import time

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_int_range,
    check_number,
    fmt_value,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    DEADLINE_EXCEEDED,
    UNKNOWN_REGION,
    EndpointResult,
    Job,
    call_with_retries,
    fan_out,
    probe_metrics,
    probe_node_info,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.http import ProbeError, jsonrpc_call

__all__ = [
    'CHAIN_METRICS',
    'ChainSettings',
    'STATES',
    'CAUSES',
    'chain_progress',
    'classify',
    'components_of',
    'likely_cause',
    'plan_sample_jobs',
    'sample_chain',
    'sample_once',
    'validate_chain_settings',
]

ACTIVE_METRIC = 'bitcell_active_miners'
BANNED_METRIC = 'bitcell_banned_miners'
PEERS_METRIC = 'bitcell_peer_count'
HEIGHT_METRIC = 'bitcell_chain_height'
CHAIN_METRICS = (ACTIVE_METRIC, BANNED_METRIC, PEERS_METRIC, HEIGHT_METRIC)
STATES = ('progressing', 'stalled', 'partitioned', 'forked', 'unknown')
CAUSES = ('none', 'no_active_miners', 'network_partition', 'low_peers', 'unknown')
MAX_SAMPLES = 1000

ACTION_UNBAN = ('Unban miners or reset trust scores (EBSL trust system; needs admin access to the state database), '
                'then watch the block production rate.')
ACTION_MINERS = ('Bring the miners back: check that the miner nodes are up and reachable, then unban miners or reset '
                 'trust scores if any are banned, and watch the block production rate.')
ACTION_PARTITION = 'Restart nodes to re-establish connections, starting with the minority side: %s.'
ACTION_PARTITION_TIE = 'Restart nodes to re-establish connections (no side is smaller: %s).'
ACTION_LOW_PEERS = ('Restart the nodes with too few peers to reconnect (%s); check BOOTSTRAP_NODES, firewall rules and the '
                    'DHT (runbook: No Peers / Network Isolation).')
ACTION_UNKNOWN = ('No runbook cause matches the evidence: check the nodes\' logs for consensus errors, verify transaction '
                  'processing and escalate.')
ACTION_RESAMPLE = ('Run again with a longer deadline or timeout: the heights did not come from two snapshots, so growth '
                   'could not be measured.')
ACTION_NONE = 'None: the chain is progressing; keep monitoring the block production rate.'
ACTION_NO_QUORUM = ('Get answers from at least quorum=%d targets: look at the targets that did not answer (%s) with '
                    'chainops.runbooks.fleet_probe, or lower quorum.')


class ChainSettings:
    """Validated chain_progress options."""

    __slots__ = ('window', 'samples', 'quorum', 'miner_count', 'min_peers')

    def __init__(self, window=10.0, samples=3, quorum=1, miner_count=1, min_peers=2):
        self.window = float(window)
        self.samples = int(samples)
        self.quorum = int(quorum)
        self.miner_count = int(miner_count)
        self.min_peers = int(min_peers)

    @property
    def interval(self):
        return self.window / (self.samples - 1)

    @property
    def quorum_threshold(self):
        """The most active miners that still lack the > 2/3 quorum."""
        return (2 * self.miner_count) // 3


def validate_chain_settings(params, targets, deadline):
    """Check window, samples, quorum, miner_count, min_peers (and deadline > window); return ``ChainSettings``.

    ``targets`` are validated targets; each needs an rpc_url or a metrics_url
    (heights come from them).
    """
    for index, target in enumerate(targets):
        if not target.get('rpc_url') and not target.get('metrics_url'):
            raise ChainopsError('targets[%d] (name=%s) has neither rpc_url nor metrics_url; chain_progress reads heights '
                                'from eth_blockNumber or bitcell_chain_height, set one of them' % (index, fmt_value(target['name'])))
    window = check_number('window', params['window'], minimum=0, exclusive_minimum=True, unit='seconds')
    check_int_range('samples', params['samples'], minimum=2, maximum=MAX_SAMPLES)
    count = len(targets)
    quorum = params.get('quorum')
    if quorum is None:
        quorum = count // 2 + 1
    elif isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= count:
        raise ChainopsError('quorum=%s is not allowed; quorum must be between 1 and %d (the number of targets)' % (
            fmt_value(quorum), count))
    miner_count = params.get('miner_count')
    if miner_count is None:
        miner_count = count
    else:
        check_int_range('miner_count', miner_count, minimum=1)
    check_int_range('min_peers', params['min_peers'], minimum=0)
    if deadline <= window:
        raise ChainopsError('deadline=%s is not allowed with window=%s; deadline bounds the whole call, every sample '
                            'included, so it must be > window (for example deadline=%s)' % (
                                fmt_value(deadline), fmt_value(window), fmt_value(float(int(window * 1.1) + 10))))
    return ChainSettings(window, params['samples'], quorum, miner_count, params['min_peers'])


# --- sampling -------------------------------------------------------------------

def plan_sample_jobs(targets):
    """Per snapshot: eth_blockNumber and bitcell_nodeInfo on each rpc_url, a scrape of each metrics_url."""
    jobs = []
    for endpoint, key in (('height', 'rpc_url'), ('node_info', 'rpc_url'), ('metrics', 'metrics_url')):
        for target in targets:
            if target.get(key):
                jobs.append(Job(len(jobs), target['name'], endpoint, target[key]))
    return jobs


def _probe_height(url, settings, deadline_at, clock, sleep):
    def call():
        return jsonrpc_call(url, 'eth_blockNumber', timeout=settings.timeout, validate_certs=settings.validate_certs,
                            deadline_at=deadline_at, clock=clock)
    try:
        (result, latency), attempts = call_with_retries(call, settings.retries, settings.retry_backoff, deadline_at,
                                                        clock=clock, sleep=sleep)
    except ProbeError as exc:
        return EndpointResult('height', exc.responded, exc.msg, exc.latency_ms)
    if isinstance(result, str) and result[:2].lower() == '0x' and len(result) > 2:
        try:
            return EndpointResult('height', True, None, latency, attempts, {'height': int(result[2:], 16)})
        except ValueError:
            pass
    return EndpointResult('height', True, 'eth_blockNumber: unexpected result %r' % (result,), latency, attempts)


def _run_sample_job(job, settings, deadline_at, clock, sleep):
    """One endpoint of one snapshot; never raises."""
    try:
        if clock() >= deadline_at:
            return EndpointResult(job.endpoint, False, DEADLINE_EXCEEDED)
        if job.endpoint == 'height':
            return _probe_height(job.url, settings, deadline_at, clock, sleep)
        if job.endpoint == 'node_info':
            return probe_node_info(job.url, settings, deadline_at, clock=clock, sleep=sleep)
        return probe_metrics(job.url, settings, deadline_at, list(CHAIN_METRICS), clock=clock, sleep=sleep)
    except Exception as exc:  # a bug must not take the whole sample down
        return EndpointResult(job.endpoint, False, 'internal error (%s: %s)' % (type(exc).__name__, exc))


def _count(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value < 0 or value != int(value):
        return None
    return int(value)


def sample_once(targets, settings, deadline_at, clock=time.monotonic, sleep=time.sleep):
    """One snapshot: ``{name: {height, node_id, region, head_hash, info_height, peers, peer_count, active_miners,
    banned_miners, errors}}`` (values None when unknown)."""
    jobs = plan_sample_jobs(targets)
    finished = fan_out(jobs, lambda job: _run_sample_job(job, settings, deadline_at, clock, sleep),
                       settings.concurrency, deadline_at, clock=clock)
    snapshot = {}
    for target in targets:
        snapshot[target['name']] = {
            'height': None, 'node_id': None, 'region': None, 'head_hash': None, 'info_height': None, 'peers': None,
            'peer_count': None, 'active_miners': None, 'banned_miners': None, 'errors': []}
    for position, job in enumerate(jobs):
        entry = snapshot[job.target]
        outcome = finished.get(position)
        if outcome is None:
            entry['errors'].append('%s: %s' % (job.endpoint, DEADLINE_EXCEEDED))
            continue
        if isinstance(outcome, Exception):
            entry['errors'].append('%s: internal error (%s)' % (job.endpoint, type(outcome).__name__))
            continue
        if outcome.error:
            entry['errors'].append('%s: %s' % (job.endpoint, outcome.error))
        data = outcome.data
        if job.endpoint == 'height' and data.get('height') is not None:
            entry['height'] = data['height']
        elif job.endpoint == 'node_info' and data.get('node_info') is not None:
            info = data['node_info']
            entry.update({'node_id': info['node_id'], 'region': info['region'], 'head_hash': info['head_hash'],
                          'info_height': info['height'],
                          'peers': [dict(peer) for peer in info['peers']]})
        elif job.endpoint == 'metrics':
            values = data.get('metrics') or {}
            entry['active_miners'] = _count(values.get(ACTIVE_METRIC))
            entry['banned_miners'] = _count(values.get(BANNED_METRIC))
            entry['peer_count'] = _count(values.get(PEERS_METRIC))
            entry['metrics_height'] = _count(values.get(HEIGHT_METRIC))
    for entry in snapshot.values():
        # eth_blockNumber first, then the node's own report, then the metric.
        if entry['height'] is None:
            entry['height'] = entry['info_height'] if entry['info_height'] is not None else entry.get('metrics_height')
        entry.pop('metrics_height', None)
        if entry['peers'] is not None:
            entry['peer_count'] = len(entry['peers'])
    return snapshot


def sample_chain(targets, probe_settings, chain_settings, clock=time.monotonic, sleep=time.sleep):
    """``chain_settings.samples`` snapshots spread evenly over ``chain_settings.window`` seconds.

    Returns ``(snapshots, started)`` where snapshots is a list of
    ``{'t': seconds after started, 'targets': sample_once(...)}``.  Snapshot
    i is due at ``started + i * interval``; each may use the time until the
    next one is due (at least ``timeout``), the last one the rest of
    ``deadline``.
    """
    started = clock()
    overall = started + probe_settings.deadline
    interval = chain_settings.interval
    snapshots = []
    for index in range(chain_settings.samples):
        due = started + index * interval
        now = clock()
        if now < due:
            sleep(due - now)
        if clock() >= overall:
            break
        taken = clock()
        if index == chain_settings.samples - 1:
            budget_end = overall
        else:
            budget_end = min(overall, due + max(interval, probe_settings.timeout))
        snapshots.append({'t': round(taken - started, 3),
                          'targets': sample_once(targets, probe_settings, budget_end, clock=clock, sleep=sleep)})
    return snapshots, started


# --- classification (pure) ------------------------------------------------------------

def _region(region):
    return region if region else UNKNOWN_REGION


def _max(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _answered_snapshots(snapshots, names):
    """Indexes of the snapshots in which at least one of ``names`` gave a height."""
    return [i for i, s in enumerate(snapshots) if any(s['targets'][n]['height'] is not None for n in names)]


def _progress(snapshots, names):
    """(start, end) max heights of ``names`` over the window; (None, None) without two snapshots with answers.

    Compares the first and the last snapshot in which any of ``names``
    answered, using only the targets that answered in both when there are
    any (so a node going away cannot fake a change), else every answer.
    """
    answered = _answered_snapshots(snapshots, names)
    if len(answered) < 2:
        return None, None
    first, last = snapshots[answered[0]]['targets'], snapshots[answered[-1]]['targets']
    common = [n for n in names if first[n]['height'] is not None and last[n]['height'] is not None]
    if common:
        return _max(first[n]['height'] for n in common), _max(last[n]['height'] for n in common)
    return _max(first[n]['height'] for n in names), _max(last[n]['height'] for n in names)


def components_of(targets, snapshot):
    """Connected components of the peer graph of one snapshot.

    Vertices are the targets that answered ``bitcell_nodeInfo`` and every peer
    they list; edges are undirected.  A peer is matched to a target by the
    target's name or reported node id.  Returns a list of
    ``{'nodes': [names], 'regions': {region: count}}``, largest first.
    """
    by_id = {}
    for target in targets:
        entry = snapshot[target['name']]
        by_id[target['name']] = target['name']
        if entry['node_id']:
            by_id.setdefault(entry['node_id'], target['name'])
    order = {t['name']: i for i, t in enumerate(targets)}
    regions = {t['name']: _region(t.get('region')) for t in targets}
    parent = {}

    def find(vertex):
        parent.setdefault(vertex, vertex)
        while parent[vertex] != vertex:
            parent[vertex] = parent[parent[vertex]]
            vertex = parent[vertex]
        return vertex

    def union(a, b):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_b] = root_a

    for target in targets:
        entry = snapshot[target['name']]
        if entry['peers'] is None:
            continue
        find(target['name'])
        if target.get('region') is None and entry.get('region'):
            regions[target['name']] = entry['region']
        for peer in entry['peers']:
            vertex = by_id.get(peer['id'], peer['id'])
            if vertex not in regions:
                regions[vertex] = _region(peer.get('region'))
            union(target['name'], vertex)
    groups = {}
    for vertex in list(parent):
        groups.setdefault(find(vertex), []).append(vertex)
    components = []
    for members in groups.values():
        members.sort(key=lambda v: (order.get(v, len(order)), v))
        counts = {}
        for vertex in members:
            counts[regions[vertex]] = counts.get(regions[vertex], 0) + 1
        components.append({'nodes': members, 'regions': counts})
    components.sort(key=lambda c: (-len(c['nodes']), order.get(c['nodes'][0], len(order)), c['nodes'][0]))
    return components


def _forks(targets, snapshot, component_of):
    """Targets at the same height whose heads differ: ``[{height, heads: {hash: [names]}, across_components}]``."""
    by_height = {}
    for target in targets:
        entry = snapshot[target['name']]
        if entry['info_height'] is None or not entry['head_hash']:
            continue
        by_height.setdefault(entry['info_height'], {}).setdefault(entry['head_hash'], []).append(target['name'])
    forks = []
    for height in sorted(by_height):
        heads = by_height[height]
        if len(heads) < 2:
            continue
        comps = {component_of.get(names[0]) for names in heads.values()}
        forks.append({'height': height, 'heads': heads, 'across_components': len(comps) > 1 and None not in comps})
    return forks


def _describe(names, regions):
    return '%s (%s)' % (', '.join(names), ', '.join(sorted(regions)))


def _seconds(value):
    return '%.1fs' % value


def likely_cause(state, fleet, components, minority, settings):
    """The runbook cause of a chain that does not progress: ``(cause, evidence, recommended_action)``.

    Order of the checks: banned miners (the runbook's "If no active miners"),
    a split peer graph ("If network partition"), active miners at or below the
    quorum threshold, too few peers, else unknown.
    """
    evidence = {
        'height_start': fleet['height_start'],
        'height_end': fleet['height_end'],
        'height_delta': fleet['height_delta'],
        'active_miners': fleet['active_miners'],
        'banned_miners': fleet['banned_miners'],
        'miner_count': settings.miner_count,
        'active_miners_needed': settings.quorum_threshold + 1,
        'components': len(components),
        'component_sizes': [len(c['nodes']) for c in components],
        'peer_counts': fleet['peer_counts'],
        'min_peers': settings.min_peers,
    }
    if state == 'progressing':
        return 'none', evidence, ACTION_NONE
    if state == 'unknown':
        if not fleet['quorum_met']:
            return 'unknown', evidence, ACTION_NO_QUORUM % (settings.quorum, ', '.join(fleet['unanswered']) or 'none')
        return 'unknown', evidence, ACTION_RESAMPLE
    banned = fleet['banned_miners']
    active = fleet['active_miners']
    if banned is not None and banned > 0:
        return 'no_active_miners', evidence, ACTION_UNBAN
    if len(components) > 1:
        if minority is not None:
            evidence['minority'] = minority['nodes']
            evidence['minority_regions'] = sorted(minority['regions'])
            return 'network_partition', evidence, ACTION_PARTITION % _describe(minority['nodes'], minority['regions'])
        sides = '; '.join(_describe(c['nodes'], c['regions']) for c in components)
        return 'network_partition', evidence, ACTION_PARTITION_TIE % sides
    if active is not None and active <= settings.quorum_threshold:
        return 'no_active_miners', evidence, ACTION_MINERS
    low = [name for name, count in fleet['peer_counts'].items() if count is not None and count < settings.min_peers]
    if low:
        evidence['low_peers'] = low
        return 'low_peers', evidence, ACTION_LOW_PEERS % ', '.join(low)
    return 'unknown', evidence, ACTION_UNKNOWN


def _last_known(snapshots, name, key):
    for snapshot in reversed(snapshots):
        value = snapshot['targets'][name][key]
        if value is not None:
            return value
    return None


def classify(targets, snapshots, settings):
    """The whole chain_progress report from the snapshots of ``sample_chain`` (pure)."""
    names = [t['name'] for t in targets]
    answered = [n for n in names if any(s['targets'][n]['height'] is not None for s in snapshots)]
    unanswered = [n for n in names if n not in answered]
    last = snapshots[-1]['targets'] if snapshots else {n: None for n in names}
    span = (snapshots[-1]['t'] - snapshots[0]['t']) if len(snapshots) > 1 else 0.0

    height_start, height_end = _progress(snapshots, answered)
    delta = (height_end - height_start) if height_start is not None and height_end is not None else None
    per_minute = round(delta * 60.0 / span, 2) if delta is not None and span > 0 else None

    peer_counts = {}
    for name in answered:
        peer_counts[name] = _last_known(snapshots, name, 'peer_count')
    fleet = {
        'height_start': height_start,
        'height_end': height_end,
        'height_delta': delta,
        'active_miners': _max(_last_known(snapshots, n, 'active_miners') for n in answered),
        'banned_miners': _max(_last_known(snapshots, n, 'banned_miners') for n in answered),
        'peer_counts': peer_counts,
        'unanswered': unanswered,
        'quorum_met': len(answered) >= settings.quorum,
    }

    components = components_of(targets, last) if snapshots else []
    component_of = {}
    for index, component in enumerate(components):
        for node in component['nodes']:
            component_of[node] = index
    for component in components:
        members = [n for n in component['nodes'] if n in answered]
        start, end = _progress(snapshots, members) if members else (None, None)
        component['size'] = len(component['nodes'])
        component['max_height'] = end
        component['height_delta'] = (end - start) if start is not None and end is not None else None
        component['grew'] = bool(component['height_delta'] and component['height_delta'] > 0)
    minority = None
    if len(components) > 1:
        smallest = min(len(c['nodes']) for c in components)
        candidates = [c for c in components if len(c['nodes']) == smallest]
        if len(candidates) == 1:
            minority = candidates[0]
    for component in components:
        component['minority'] = component is minority

    forks = _forks(targets, last, component_of) if snapshots else []
    if len(snapshots) > 1 and forks:
        previous = {f['height'] for f in _forks(targets, snapshots[-2]['targets'], component_of)}
        forks = [f for f in forks if f['across_components'] or f['height'] in previous]
    # Heads that differ across a split are what a partition leaves behind (the block in flight when the link
    # broke); only a disagreement between connected nodes is a fork of its own.
    connected_forks = [f for f in forks if not f['across_components']]
    growing = [c for c in components if c['grew']]
    grew = delta is not None and delta > 0

    if len(answered) < settings.quorum:
        state = 'unknown'
        reason = 'only %d of %d targets answered (quorum=%d); no answer from %s' % (
            len(answered), len(names), settings.quorum, ', '.join(unanswered))
    elif delta is None:
        state = 'unknown'
        reason = ('heights came from %d snapshot(s) only; growth needs answers in at least two (raise timeout or '
                  'deadline, or check the targets)' % len(_answered_snapshots(snapshots, answered)))
    elif connected_forks:
        state = 'forked'
        fork = connected_forks[0]
        reason = 'heads disagree at height %d: %s' % (fork['height'], '; '.join(
            '%s has %s' % (', '.join(nodes), head[:18]) for head, nodes in sorted(fork['heads'].items())))
    elif len(growing) > 1:
        state = 'forked'
        reason = '%d components of the peer graph grow separate chains: %s' % (len(growing), '; '.join(
            '%s +%d' % (_describe(c['nodes'], c['regions']), c['height_delta']) for c in growing))
    elif len(components) > 1:
        state = 'partitioned'
        sides = ' and '.join('[%s]' % _describe(c['nodes'], c['regions']) for c in components)
        growth = ('only the component of %s grows (+%d)' % (', '.join(growing[0]['nodes']), growing[0]['height_delta'])
                  if growing else 'no growth over %s (max height %s)' % (_seconds(span), height_end))
        reason = '%s; the peer graph splits into %d components: %s; minority: %s%s' % (
            growth, len(components), sides, ', '.join(minority['nodes']) if minority else 'none (equal sizes)',
            '; heads differ across the split at height %s' % ', '.join(str(f['height']) for f in forks) if forks else '')
    elif grew:
        state = 'progressing'
        reason = 'max height %s \u2192 %s (+%d) over %s' % (height_start, height_end, delta, _seconds(span))
    else:
        state = 'stalled'
        reason = 'no growth over %s (max height %s)%s' % (
            _seconds(span), height_end, '; peer graph connected' if components else '; peer graph unknown (no bitcell_nodeInfo)')
    if state != 'unknown':
        reason += '; %d of %d targets answered' % (len(answered), len(names))

    cause, evidence, action = likely_cause(state, fleet, components, minority, settings)

    regions = {}
    for target in targets:
        name = target['name']
        region = regions.setdefault(_region(target.get('region')), {
            'targets': [], 'answered': 0, 'max_height': None, 'height_delta': None, 'components': [],
            'active_miners': None, 'banned_miners': None, 'peer_counts': {}})
        region['targets'].append(name)
        if name in answered:
            region['answered'] += 1
            region['peer_counts'][name] = peer_counts[name]
        if name in component_of and component_of[name] not in region['components']:
            region['components'].append(component_of[name])
    for region in regions.values():
        members = [n for n in region['targets'] if n in answered]
        start, end = _progress(snapshots, members) if members else (None, None)
        region['max_height'] = end
        region['height_delta'] = (end - start) if start is not None and end is not None else None
        region['active_miners'] = _max(_last_known(snapshots, n, 'active_miners') for n in members)
        region['banned_miners'] = _max(_last_known(snapshots, n, 'banned_miners') for n in members)
        region['components'].sort()

    per_target = {}
    for target in targets:
        name = target['name']
        samples = []
        for snapshot in snapshots:
            entry = snapshot['targets'][name]
            samples.append({
                't': snapshot['t'], 'height': entry['height'], 'head_hash': entry['head_hash'],
                'peer_count': entry['peer_count'], 'active_miners': entry['active_miners'],
                'banned_miners': entry['banned_miners'], 'errors': list(entry['errors'])})
        heights = [s['height'] for s in samples if s['height'] is not None]
        info_peers = _last_known(snapshots, name, 'peers')
        per_target[name] = {
            'region': target.get('region'),
            'answered': name in answered,
            'height': heights[-1] if heights else None,
            'height_delta': (heights[-1] - heights[0]) if len(heights) > 1 else None,
            'peers': [p['id'] for p in info_peers] if info_peers is not None else None,
            'peer_count': peer_counts.get(name),
            'active_miners': _last_known(snapshots, name, 'active_miners'),
            'banned_miners': _last_known(snapshots, name, 'banned_miners'),
            'component': component_of.get(name),
            'samples': samples,
        }

    return {
        'state': state,
        'reason': reason,
        'likely_cause': cause,
        'evidence': evidence,
        'recommended_action': action,
        'height_start': height_start,
        'height_end': height_end,
        'height_delta': delta,
        'blocks_per_minute': per_minute,
        'window_observed': span,
        'answered': answered,
        'unanswered': unanswered,
        'quorum': settings.quorum,
        'components': components,
        'minority': None if minority is None else {'nodes': minority['nodes'], 'regions': minority['regions']},
        'forks': forks,
        'regions': regions,
        'targets': per_target,
    }


def chain_progress(targets, probe_settings, chain_settings, clock=time.monotonic, sleep=time.sleep):
    """Sample, classify and time the whole call (the ``chain_progress`` module's result without ``changed``)."""
    snapshots, started = sample_chain(targets, probe_settings, chain_settings, clock=clock, sleep=sleep)
    result = classify(targets, snapshots, chain_settings)
    result['elapsed'] = round(clock() - started, 3)
    return result
