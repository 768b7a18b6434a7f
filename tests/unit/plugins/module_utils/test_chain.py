# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""chain_progress: classification (pure, from synthetic snapshots) and sampling (against fake nodes)."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.chain import (
    ChainSettings,
    chain_progress,
    classify,
    components_of,
    plan_sample_jobs,
    sample_chain,
    validate_chain_settings,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import ProbeSettings, validate_targets

EAST = ['e1', 'e2', 'e3']
WEST = ['w1', 'w2']
TARGETS = [{'name': n, 'region': 'us-east'} for n in EAST] + [{'name': n, 'region': 'eu-west'} for n in WEST]
FULL_MESH = {n: [p for p in EAST + WEST if p != n] for n in EAST + WEST}
SPLIT = {n: [p for p in (EAST if n in EAST else WEST) if p != n] for n in EAST + WEST}


def node(height=None, peers=None, active=None, banned=None, head=None, node_id=None, errors=()):
    return {'height': height, 'node_id': node_id, 'region': None, 'head_hash': head,
            'info_height': height if peers is not None else None,
            'peers': None if peers is None else [{'id': p, 'region': None} for p in peers],
            'peer_count': None if peers is None else len(peers), 'active_miners': active, 'banned_miners': banned,
            'errors': list(errors)}


def snapshots(heights_per_sample, mesh, active=5, banned=0, heads=None, interval=5.0, targets=TARGETS):
    """One snapshot per entry of heights_per_sample ({name: height or None})."""
    result = []
    for index, heights in enumerate(heights_per_sample):
        result.append({'t': index * interval, 'targets': {
            t['name']: (node(heights[t['name']], mesh.get(t['name']), active, banned,
                             (heads or {}).get(t['name'], '0x%d' % (heights[t['name']] or 0)))
                        if heights.get(t['name']) is not None else node(errors=['height: connection refused']))
            for t in targets}})
    return result


def settings(**kwargs):
    values = dict(window=10.0, samples=3, quorum=3, miner_count=5, min_peers=2)
    values.update(kwargs)
    return ChainSettings(**values)


def same(height, names=tuple(EAST + WEST)):
    return {n: height for n in names}


def test_progressing():
    out = classify(TARGETS, snapshots([same(100), same(102), same(105)], FULL_MESH), settings())
    assert out['state'] == 'progressing' and out['likely_cause'] == 'none'
    assert (out['height_start'], out['height_end'], out['height_delta']) == (100, 105, 5)
    assert out['blocks_per_minute'] == 30.0 and out['window_observed'] == 10.0
    assert len(out['components']) == 1 and out['minority'] is None and out['forks'] == []
    assert out['reason'] == 'max height 100 \u2192 105 (+5) over 10.0s; 5 of 5 targets answered'
    assert out['targets']['e1']['samples'][0]['height'] == 100 and out['targets']['e1']['height_delta'] == 5
    assert out['regions']['eu-west']['max_height'] == 105 and out['regions']['eu-west']['components'] == [0]


def test_stalled_with_a_connected_graph_and_no_obvious_cause():
    out = classify(TARGETS, snapshots([same(100)] * 3, FULL_MESH), settings())
    assert out['state'] == 'stalled' and out['likely_cause'] == 'unknown'
    assert out['reason'] == 'no growth over 10.0s (max height 100); peer graph connected; 5 of 5 targets answered'
    assert out['recommended_action'].startswith('No runbook cause matches the evidence')


def test_banned_miners_mean_no_active_miners():
    out = classify(TARGETS, snapshots([same(100)] * 3, FULL_MESH, active=3, banned=2), settings())
    assert out['state'] == 'stalled' and out['likely_cause'] == 'no_active_miners'
    assert out['evidence']['banned_miners'] == 2 and out['evidence']['active_miners'] == 3
    assert out['evidence']['active_miners_needed'] == 4
    assert out['recommended_action'].startswith('Unban miners or reset trust scores')


def test_active_miners_at_the_threshold_without_bans():
    out = classify(TARGETS, snapshots([same(100)] * 3, FULL_MESH, active=3, banned=0), settings())
    assert out['likely_cause'] == 'no_active_miners'
    assert out['recommended_action'].startswith('Bring the miners back')
    # One more active miner is a quorum: the miners are not the cause then.
    out = classify(TARGETS, snapshots([same(100)] * 3, FULL_MESH, active=4, banned=0), settings())
    assert out['likely_cause'] == 'unknown'


def test_partition_names_the_minority():
    out = classify(TARGETS, snapshots([same(100)] * 3, SPLIT, active=3), settings())
    assert out['state'] == 'partitioned' and out['likely_cause'] == 'network_partition'
    assert [c['nodes'] for c in out['components']] == [EAST, WEST]
    assert out['components'][1]['regions'] == {'eu-west': 2} and out['components'][1]['minority'] is True
    assert out['minority'] == {'nodes': WEST, 'regions': {'eu-west': 2}}
    assert out['evidence']['minority'] == WEST and out['evidence']['minority_regions'] == ['eu-west']
    assert out['evidence']['component_sizes'] == [3, 2]
    assert out['recommended_action'] == ('Restart nodes to re-establish connections, starting with the minority side: '
                                         'w1, w2 (eu-west).')
    assert out['regions']['us-east']['components'] == [0] and out['regions']['eu-west']['components'] == [1]
    assert out['targets']['w1']['component'] == 1
    assert 'minority: w1, w2' in out['reason']


def test_partition_where_only_the_majority_grows():
    heights = [same(100), dict(same(101, EAST), **same(100, WEST)), dict(same(103, EAST), **same(100, WEST))]
    out = classify(TARGETS, snapshots(heights, SPLIT), settings())
    assert out['state'] == 'partitioned' and out['likely_cause'] == 'network_partition'
    assert out['height_delta'] == 3
    assert out['reason'].startswith('only the component of e1, e2, e3 grows (+3)')


def test_banned_miners_win_over_a_partition():
    out = classify(TARGETS, snapshots([same(100)] * 3, SPLIT, banned=2), settings())
    assert out['state'] == 'partitioned' and out['likely_cause'] == 'no_active_miners'


def test_equal_sides_have_no_minority():
    targets = TARGETS[:2] + TARGETS[3:]
    mesh = {'e1': ['e2'], 'e2': ['e1'], 'w1': ['w2'], 'w2': ['w1']}
    out = classify(targets, snapshots([same(100, ['e1', 'e2', 'w1', 'w2'])] * 2, mesh, targets=targets), settings())
    assert out['state'] == 'partitioned' and out['minority'] is None
    assert out['recommended_action'].startswith('Restart nodes to re-establish connections (no side is smaller')


def test_two_growing_components_are_a_fork():
    heights = [same(100), dict(same(102, EAST), **same(101, WEST))]
    out = classify(TARGETS, snapshots(heights, SPLIT), settings())
    assert out['state'] == 'forked'
    assert out['reason'].startswith('2 components of the peer graph grow separate chains')


def test_heads_that_disagree_across_a_stalled_split_are_a_partition():
    # The lab's partition fault leaves this behind: a block in flight when the link broke, then no quorum anywhere.
    heads = {'w1': '0xbad', 'w2': '0xbad'}
    out = classify(TARGETS, snapshots([same(100)] * 2, SPLIT, heads=heads), settings())
    assert out['state'] == 'partitioned' and out['likely_cause'] == 'network_partition'
    assert out['forks'] == [{'height': 100, 'heads': {'0x100': EAST, '0xbad': WEST}, 'across_components': True}]
    assert 'minority: w1, w2; heads differ across the split at height 100;' in out['reason']


def test_heads_that_disagree_across_a_split_where_both_sides_grow_are_a_fork():
    heads = {'w1': '0xbad', 'w2': '0xbad'}
    heights = [same(100), dict(same(101, EAST), **same(101, WEST))]
    out = classify(TARGETS, snapshots(heights, SPLIT, heads=heads), settings())
    assert out['state'] == 'forked'


def test_a_one_off_head_race_in_a_connected_graph_is_not_a_fork():
    snaps = snapshots([same(100), same(101)], FULL_MESH)
    snaps[-1]['targets']['w2']['head_hash'] = '0xother'
    assert classify(TARGETS, snaps, settings())['state'] == 'progressing'
    # The same disagreement in two snapshots in a row is a fork.
    snaps = snapshots([same(100), same(100)], FULL_MESH, heads={'w2': '0xother'})
    assert classify(TARGETS, snaps, settings())['state'] == 'forked'


def test_too_few_answers_is_unknown():
    heights = [dict(same(100, ['e1', 'e2']), e3=None, w1=None, w2=None)] * 3
    out = classify(TARGETS, snapshots(heights, FULL_MESH), settings(quorum=3))
    assert out['state'] == 'unknown' and out['likely_cause'] == 'unknown'
    assert out['reason'] == 'only 2 of 5 targets answered (quorum=3); no answer from e3, w1, w2'
    assert out['unanswered'] == ['e3', 'w1', 'w2']
    assert out['recommended_action'].startswith('Get answers from at least quorum=3 targets')
    assert out['targets']['w1']['samples'][0]['errors'] == ['height: connection refused']
    assert classify(TARGETS, snapshots(heights, FULL_MESH), settings(quorum=2))['state'] != 'unknown'


def test_a_down_node_is_not_a_component_of_its_own():
    mesh = {n: [p for p in EAST + ['w1'] if p != n] for n in EAST + ['w1']}
    heights = [dict(same(100, EAST + ['w1']), w2=None), dict(same(102, EAST + ['w1']), w2=None)]
    out = classify(TARGETS, snapshots(heights, mesh), settings())
    assert out['state'] == 'progressing' and len(out['components']) == 1
    assert out['targets']['w2']['component'] is None and out['unanswered'] == ['w2']


def test_low_peers():
    mesh = {'e1': ['e2'], 'e2': ['e1', 'e3'], 'e3': ['e2', 'w1', 'w2'], 'w1': ['e3', 'w2'], 'w2': ['e3', 'w1']}
    out = classify(TARGETS, snapshots([same(100)] * 2, mesh), settings(min_peers=2))
    assert out['state'] == 'stalled' and out['likely_cause'] == 'low_peers'
    assert out['evidence']['low_peers'] == ['e1']
    assert 'e1' in out['recommended_action']


def test_components_match_peers_by_node_id_and_keep_unknown_peers():
    snap = {
        'a': node(10, ['node-b', 'outsider'], node_id='node-a'),
        'b': node(10, ['node-a'], node_id='node-b'),
        'c': node(10, []),
    }
    targets = [{'name': 'a', 'region': 'r1'}, {'name': 'b', 'region': 'r1'}, {'name': 'c', 'region': None}]
    snap['a']['peers'][1]['region'] = 'r9'
    components = components_of(targets, snap)
    assert components == [{'nodes': ['a', 'b', 'outsider'], 'regions': {'r1': 2, 'r9': 1}},
                          {'nodes': ['c'], 'regions': {'unknown': 1}}]


def test_heights_from_a_single_snapshot_cannot_show_growth():
    heights = [{n: None for n in EAST + WEST}, same(100), {n: None for n in EAST + WEST}]
    out = classify(TARGETS, snapshots(heights, FULL_MESH), settings())
    assert out['state'] == 'unknown' and out['height_delta'] is None
    assert out['reason'].startswith('heights came from 1 snapshot(s) only')
    assert out['recommended_action'].startswith('Run again with a longer deadline or timeout')


def test_a_late_first_snapshot_does_not_hide_growth():
    heights = [{n: None for n in EAST + WEST}, same(100), same(103)]
    out = classify(TARGETS, snapshots(heights, FULL_MESH), settings())
    assert out['state'] == 'progressing' and out['height_delta'] == 3


def test_without_node_info_the_graph_is_unknown():
    snaps = [{'t': 0.0, 'targets': {t['name']: node(100) for t in TARGETS}},
             {'t': 5.0, 'targets': {t['name']: node(100) for t in TARGETS}}]
    out = classify(TARGETS, snaps, settings())
    assert out['state'] == 'stalled' and out['components'] == []
    assert 'peer graph unknown' in out['reason']


# --- settings -------------------------------------------------------------------------

def chain_params(**kwargs):
    values = {'window': 10.0, 'samples': 3, 'quorum': None, 'miner_count': None, 'min_peers': 2}
    values.update(kwargs)
    return values


def five_targets():
    return validate_targets([{'name': 'n%d' % i, 'rpc_url': 'http://127.0.0.1:1/'} for i in range(5)])


def test_settings_defaults():
    chain_settings = validate_chain_settings(chain_params(), five_targets(), 20.0)
    assert (chain_settings.quorum, chain_settings.miner_count, chain_settings.quorum_threshold) == (3, 5, 3)
    assert chain_settings.interval == 5.0


@pytest.mark.parametrize('override, deadline, msg', [
    ({'window': 0}, 20.0, 'window=0 is not allowed; window must be > 0 seconds'),
    ({'window': -5.0}, 20.0, 'window=-5 is not allowed; window must be > 0 seconds'),
    ({'samples': 1}, 20.0, 'samples=1 is not allowed; samples must be between 2 and 1000'),
    ({'quorum': 0}, 20.0, 'quorum=0 is not allowed; quorum must be between 1 and 5 (the number of targets)'),
    ({'quorum': 6}, 20.0, 'quorum=6 is not allowed; quorum must be between 1 and 5 (the number of targets)'),
    ({'miner_count': 0}, 20.0, 'miner_count=0 is not allowed; miner_count must be >= 1'),
    ({'min_peers': -1}, 20.0, 'min_peers=-1 is not allowed; min_peers must be >= 0'),
    ({'window': 600.0}, 20.0, 'deadline=20 is not allowed with window=600; deadline bounds the whole call, every '
                              'sample included, so it must be > window (for example deadline=670)'),
])
def test_settings_errors(override, deadline, msg):
    with pytest.raises(ChainopsError) as info:
        validate_chain_settings(chain_params(**override), five_targets(), deadline)
    assert info.value.msg == msg


def test_a_health_only_target_is_refused():
    targets = validate_targets([{'name': 'h', 'health_url': 'http://127.0.0.1:1/health'}])
    with pytest.raises(ChainopsError) as info:
        validate_chain_settings(chain_params(), targets, 20.0)
    assert info.value.msg.startswith("targets[0] (name='h') has neither rpc_url nor metrics_url")


# --- sampling against fake nodes --------------------------------------------------------

def probe_settings(**kwargs):
    values = dict(timeout=2.0, deadline=10.0, concurrency=16, retries=0, retry_backoff=0.0, validate_certs=True)
    values.update(kwargs)
    return ProbeSettings(**values)


def test_plan_sample_jobs():
    targets = validate_targets([{'name': 'a', 'rpc_url': 'http://a/', 'metrics_url': 'http://a/m'},
                                {'name': 'b', 'metrics_url': 'http://b/m'}])
    assert [(j.target, j.endpoint) for j in plan_sample_jobs(targets)] == [
        ('a', 'height'), ('a', 'node_info'), ('a', 'metrics'), ('b', 'metrics')]


def test_sampling_a_fake_fleet_that_progresses(fake_node, refused_url):
    nodes = [fake_node(n, region='us-east', height=50) for n in ('a', 'b', 'c')]
    for n in nodes:
        n.node_info_peers = [m.name for m in nodes if m is not n]
    targets = validate_targets([n.target() for n in nodes] + [{'name': 'dead', 'rpc_url': refused_url + '/'}])
    stop = threading.Event()

    def produce_blocks():
        while not stop.wait(0.05):
            for n in nodes:
                n.height += 1

    producer = threading.Thread(target=produce_blocks, daemon=True)
    producer.start()
    try:
        # Generous times: the servers run in this process and the machine may be busy.
        chain_settings = ChainSettings(window=1.0, samples=2, quorum=3, miner_count=3, min_peers=1)
        out = chain_progress(targets, probe_settings(timeout=5.0, deadline=20.0), chain_settings)
    finally:
        stop.set()
        producer.join()
    assert out['state'] == 'progressing', (out['reason'], [s['errors'] for s in out['targets']['a']['samples']])
    assert out['height_delta'] > 0 and out['blocks_per_minute'] > 0 and out['unanswered'] == ['dead']
    assert out['components'][0]['nodes'] == ['a', 'b', 'c']
    assert out['targets']['a']['active_miners'] == 3 and out['targets']['a']['banned_miners'] == 0
    assert out['targets']['dead']['samples'][0]['errors'] == ['height: connection refused', 'node_info: connection refused']
    assert len(out['targets']['a']['samples']) == 2
    assert out['elapsed'] >= 1.0 and out['window_observed'] >= 1.0


def test_sampling_uses_metrics_when_rpc_has_no_node_info(fake_node):
    node_ = fake_node('m', height=10, peers=1)
    targets = validate_targets([{'name': 'm', 'rpc_url': node_.rpc_url, 'metrics_url': node_.metrics_url}])
    snaps, dummy = sample_chain(targets, probe_settings(), ChainSettings(0.05, 2, 1, 1, 2))
    entry = snaps[0]['targets']['m']
    assert entry['height'] == 10 and entry['peers'] is None and entry['peer_count'] == 1
    assert entry['errors'] == ['node_info: JSON-RPC error -32601: Method not found']
    out = classify(targets, snaps, ChainSettings(0.05, 2, 1, 1, 2))
    assert out['state'] == 'stalled' and out['likely_cause'] == 'low_peers'


def test_the_deadline_bounds_sampling(fake_node):
    slow = fake_node('slow')
    slow.hang_seconds = 5
    targets = validate_targets([{'name': 'slow', 'rpc_url': slow.rpc_url}])
    started = time.monotonic()
    snaps, dummy = sample_chain(targets, probe_settings(timeout=3.0, deadline=0.6), ChainSettings(0.3, 2, 1, 1, 2))
    assert time.monotonic() - started < 2.5  # not the 5 s the node hangs, nor the 3 s timeout
    assert snaps[-1]['targets']['slow']['height'] is None
