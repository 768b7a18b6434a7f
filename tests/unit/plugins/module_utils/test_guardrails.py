# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yaml

from ansible_collections.chainops.runbooks.plugins.doc_fragments.guardrails import ModuleDocFragment
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.guardrails import (
    FileStateStore,
    Guard,
    GuardrailRefused,
    default_min_healthy,
    evaluate,
    exit_refused,
    guard,
    guardrails_argument_spec,
    open_store,
    plan,
    validate_fleet,
    validate_guardrail_settings,
)

NOW = 1_700_000_000.0


def params_for(state_dir=None, **overrides):
    params = {name: spec.get('default') for name, spec in guardrails_argument_spec().items()}
    params['state_dir'] = str(state_dir) if state_dir else None
    params.update(overrides)
    return params


def settings_for(**overrides):
    return validate_guardrail_settings(params_for('/nonexistent', **overrides))


def fleet_of(*specs):
    """``fleet_of('a:us-east', 'b:us-east:down')`` -> fleet items."""
    fleet = []
    for spec in specs:
        parts = spec.split(':')
        fleet.append({'name': parts[0], 'region': parts[1], 'healthy': len(parts) < 3})
    return fleet


FIVE = fleet_of('n1:us-east', 'n2:us-east', 'n3:us-west', 'n4:us-west', 'n5:eu-west')


def lease(run_id, at=NOW - 10, ttl=900, owner=None):
    return {'owner': owner or 'owner-' + run_id, 'run_id': run_id, 'action': 'restart', 'host': 'ctl', 'pid': 7,
            'acquired_at': at, 'expires_at': at + ttl}


def event(outcome, at, action='restart'):
    return {'at': at, 'action': action, 'outcome': outcome, 'run_id': 'r0', 'detail': None}


def decide(fleet=None, target='n1', inflight=None, history=(), now=NOW, **settings):
    fleet = FIVE if fleet is None else fleet
    return evaluate(settings_for(**settings), target, validate_fleet(fleet, target, settings.get('min_healthy')),
                    inflight or {}, list(history), now, 'restart')


class Clock:
    """A settable clock for Guard (the store itself takes times from it)."""

    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def snapshot(path):
    result = {}
    for root, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            full = os.path.join(root, name)
            info = os.stat(full)
            content = open(full, 'rb').read() if name in files else None
            result[full] = (info.st_mode, info.st_mtime_ns, content)
    return result


# --- options and doc fragment ---------------------------------------------------------

def test_argument_spec_matches_doc_fragment():
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    spec = guardrails_argument_spec()
    assert set(doc) == set(spec)
    for name, option in spec.items():
        assert doc[name]['type'] == option['type'], name
        assert doc[name].get('default') == option.get('default'), name
        assert doc[name].get('choices') == option.get('choices'), name
        assert doc[name]['description'] and all(isinstance(line, str) for line in doc[name]['description']), name
    assert doc['fleet']['elements'] == 'dict'
    for name, option in spec['fleet']['options'].items():
        sub = doc['fleet']['suboptions'][name]
        assert (sub['type'], sub.get('required', False)) == (option['type'], option.get('required', False))
    assert set(doc['fleet']['suboptions']) == set(spec['fleet']['options'])


def test_settings_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv('CHAINOPS_STATE_DIR', raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    settings = validate_guardrail_settings(params_for())
    assert (settings.max_unavailable, settings.max_unavailable_per_region, settings.min_healthy, settings.cooldown,
            settings.force, settings.breaker_failures, settings.breaker_window, settings.breaker_reset,
            settings.lock_timeout, settings.lock_ttl, settings.state_store, settings.on_refusal) == \
        (1, None, None, 300.0, False, 3, 3600.0, False, 0.0, 900.0, 'file', 'fail')
    assert settings.state_dir == str(tmp_path / '.chainops' / 'state')
    monkeypatch.setenv('CHAINOPS_STATE_DIR', str(tmp_path / 'env'))
    assert validate_guardrail_settings(params_for()).state_dir == str(tmp_path / 'env')
    assert validate_guardrail_settings(params_for(tmp_path / 'opt')).state_dir == str(tmp_path / 'opt')


@pytest.mark.parametrize('override, msg', [
    ({'max_unavailable': -1}, 'max_unavailable=-1 is not allowed; max_unavailable must be >= 0'),
    ({'max_unavailable_per_region': -2},
     'max_unavailable_per_region=-2 is not allowed; max_unavailable_per_region must be >= 0'),
    ({'min_healthy': -1}, 'min_healthy=-1 is not allowed; min_healthy must be >= 0'),
    ({'cooldown': -5.0}, 'cooldown=-5 is not allowed; cooldown must be >= 0 seconds'),
    ({'breaker_failures': 0}, 'breaker_failures=0 is not allowed; breaker_failures must be between 1 and 100'),
    ({'breaker_window': 0.0}, 'breaker_window=0 is not allowed; breaker_window must be > 0 seconds'),
    ({'lock_timeout': -0.5}, 'lock_timeout=-0.5 is not allowed; lock_timeout must be >= 0 seconds'),
    ({'lock_ttl': 0.0}, 'lock_ttl=0 is not allowed; lock_ttl must be > 0 seconds'),
    ({'cooldown': float('nan')}, 'cooldown=nan is not allowed; cooldown must be a finite number of seconds'),
    ({'on_refusal': 'ignore'}, "on_refusal='ignore' is not allowed; on_refusal must be one of fail, skip"),
])
def test_settings_messages(override, msg):
    with pytest.raises(ChainopsError) as info:
        settings_for(**override)
    assert info.value.msg == msg


@pytest.mark.parametrize('fleet, target, min_healthy, msg', [
    ([], 'n1', None, 'fleet=[] is not allowed; give a non-empty list of {name, region, healthy}, '
                     'or omit fleet for actions that take no fleet member down'),
    ([{'region': 'x', 'healthy': True}], 'n1', None, 'fleet[0].name=null is not allowed; name must be a non-empty string'),
    ([{'name': 'n1', 'healthy': 'yes'}], 'n1', None,
     "fleet[0].healthy='yes' is not allowed (name='n1'); healthy must be true or false"),
    ([{'name': 'n1'}], 'n1', None, "fleet[0].healthy=null is not allowed (name='n1'); healthy must be true or false"),
    (fleet_of('n1:a', 'n2:a', 'n1:b'), 'n1', None,
     "fleet[2].name='n1' is a duplicate of fleet[0].name; fleet names must be unique"),
    (fleet_of('n1:a', 'n2:a'), 'n9', None,
     "target='n9' is not in fleet (n1, n2); the fleet must include the target it is the health view of"),
    (fleet_of('n1:a', 'n2:a'), 'n1', 3, 'min_healthy=3 is not allowed; min_healthy must be <= 2, the size of fleet'),
    (fleet_of('n1:a'), '', None, "target='' is not allowed; the guarded target must be a non-empty name"),
])
def test_fleet_messages(fleet, target, min_healthy, msg):
    with pytest.raises(ChainopsError) as info:
        validate_fleet(fleet, target, min_healthy)
    assert info.value.msg == msg


def test_bad_input_fails_before_touching_the_store(tmp_path):
    with pytest.raises(ChainopsError, match='^cooldown=-1 is not allowed'):
        guard(params_for(tmp_path / 's', cooldown=-1.0, fleet=FIVE), 'n1', 'restart')
    with pytest.raises(ChainopsError, match="^target='n9' is not in fleet"):
        plan(params_for(tmp_path / 's', fleet=FIVE), 'n9', 'restart')
    assert not (tmp_path / 's').exists()


@pytest.mark.parametrize('size, quorum', [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5), (7, 5), (9, 7), (10, 7)])
def test_default_min_healthy_is_more_than_two_thirds(size, quorum):
    assert default_min_healthy(size) == quorum
    assert quorum * 3 > size * 2 and (quorum - 1) * 3 <= size * 2


# --- rules -----------------------------------------------------------------------------

def test_allowed_with_numbers():
    decision = decide()
    assert (decision.allowed, decision.rule, decision.escalate) == (True, None, False)
    assert decision.msg == ('guardrails allow restart of n1: 5 of 5 nodes healthy, restart leaves 4 (min_healthy=4); '
                            'unavailable 0 -> 1 (max_unavailable=1)')
    numbers = decision.numbers
    assert {key: numbers[key] for key in ('fleet_size', 'healthy', 'healthy_after', 'min_healthy', 'unavailable',
                                          'unavailable_after', 'max_unavailable', 'region', 'region_size',
                                          'region_unavailable', 'region_unavailable_after', 'last_action_at',
                                          'cooldown_remaining', 'failures_in_window')} == {
        'fleet_size': 5, 'healthy': 5, 'healthy_after': 4, 'min_healthy': 4, 'unavailable': 0, 'unavailable_after': 1,
        'max_unavailable': 1, 'region': 'us-east', 'region_size': 2, 'region_unavailable': 0,
        'region_unavailable_after': 1, 'last_action_at': None, 'cooldown_remaining': 0.0, 'failures_in_window': 0}


def test_quorum_refuses_taking_a_healthy_node_down():
    fleet = fleet_of('bitcell-node-us-east-1:us-east', 'n2:us-east', 'n3:us-west', 'n4:us-west', 'n5:eu-west:down')
    decision = decide(fleet, 'bitcell-node-us-east-1', max_unavailable=2)
    assert (decision.allowed, decision.rule) == (False, 'quorum')
    assert decision.msg == (
        'guardrail quorum refused restart of bitcell-node-us-east-1: 4 of 5 nodes healthy, restart would leave 3, '
        'below min_healthy=4 (more than 2/3 of 5); wait until more nodes are healthy, or lower min_healthy if losing '
        'consensus is acceptable')
    assert (decision.numbers['healthy'], decision.numbers['healthy_after'], decision.numbers['min_healthy']) == (4, 3, 4)


def test_quorum_with_explicit_min_healthy_and_force_does_not_override_it():
    decision = decide(fleet_of('n1:a', 'n2:a', 'n3:a'), min_healthy=3, max_unavailable=3, force=True)
    assert decision.rule == 'quorum'
    assert decision.msg.startswith('guardrail quorum refused restart of n1: 3 of 3 nodes healthy, restart would leave 2, '
                                   'below min_healthy=3; wait')
    assert decide(fleet_of('n1:a', 'n2:a', 'n3:a'), min_healthy=2, max_unavailable=3).allowed


def test_max_unavailable_counts_unhealthy_and_inflight_nodes():
    fleet = fleet_of('n1:a', 'n2:a', 'n3:b', 'n4:b', 'n5:b', 'n6:c', 'n7:c:down')
    decision = decide(fleet, 'n1', inflight={'n4': lease('r-7'), 'elsewhere': lease('r-8')}, max_unavailable=2,
                      min_healthy=3)
    assert (decision.allowed, decision.rule) == (False, 'max_unavailable')
    assert decision.msg == (
        'guardrail max_unavailable refused restart of n1: 2 of 7 nodes already unavailable (n4 (being remediated by '
        'run r-7), n7 (unhealthy)), restart would make 3 unavailable, above max_unavailable=2; wait until they are back, '
        'or raise max_unavailable')
    assert decision.numbers['inflight'] == ['n4']
    assert (decision.numbers['healthy'], decision.numbers['unavailable_after']) == (5, 3)
    assert decide(fleet, 'n1', inflight={'n4': lease('r-7')}, max_unavailable=3, min_healthy=3).allowed


def test_max_unavailable_per_region():
    fleet = fleet_of('n1:us-east', 'n2:us-east:down', 'n3:us-east', 'n4:us-west', 'n5:us-west', 'n6:eu-west', 'n7:eu-west')
    decision = decide(fleet, 'n1', max_unavailable=3, max_unavailable_per_region=1)
    assert (decision.allowed, decision.rule) == (False, 'max_unavailable_per_region')
    assert decision.msg == (
        'guardrail max_unavailable_per_region refused restart of n1: 1 of 3 nodes in region us-east already unavailable '
        '(n2 (unhealthy)), restart would make 2 unavailable, above max_unavailable_per_region=1; wait until they are '
        'back, or raise max_unavailable_per_region')
    assert (decision.numbers['region_unavailable'], decision.numbers['region_unavailable_after']) == (1, 2)
    assert decide(fleet, 'n4', max_unavailable=3, max_unavailable_per_region=1).allowed


def test_region_down_is_repairable():
    # The whole of us-east is down: quorum is lost and max_unavailable exceeded, yet each down node may be restarted.
    fleet = fleet_of('e1:us-east:down', 'e2:us-east:down', 'w1:us-west', 'w2:us-west', 'u1:eu-west')
    for target in ('e1', 'e2'):
        decision = decide(fleet, target, inflight={'e2': lease('r-2')} if target == 'e1' else {},
                          max_unavailable_per_region=1)
        assert (decision.allowed, decision.rule) == (True, None)
    decision = decide(fleet, 'e1')
    assert decision.msg == ('guardrails allow restart of e1: e1 is already unhealthy, so it changes neither the healthy '
                            'count (3 of 5, min_healthy=4) nor the unavailable count (2, max_unavailable=1)')
    assert (decision.numbers['healthy_after'], decision.numbers['unavailable_after']) == (3, 2)
    # ...while taking a healthy node down in that state is refused.
    assert decide(fleet, 'w1', max_unavailable=5).rule == 'quorum'


def test_target_locked_by_another_run_is_refused_first():
    history = [event('failure', NOW - 30 * i) for i in range(1, 4)]
    decision = decide(target='n2', inflight={'n2': lease('r-9', at=NOW - 12)}, history=history)
    assert (decision.allowed, decision.rule) == (False, 'lock')
    assert decision.msg == ('guardrail lock refused restart of n2: run r-9 (restart, host ctl pid 7) has held its lock '
                            'for 12s and keeps it for up to 888s more; two runs never act on the same target at once; '
                            'wait for it to finish, or pass lock_timeout to wait up to that many seconds')
    assert decision.numbers['lock_holder'] == 'r-9'


def test_cooldown_refusal_and_force():
    history = [event('attempt', NOW - 120), event('failure', NOW - 100, action='restart')]
    decision = decide(history=history)
    assert (decision.allowed, decision.rule) == (False, 'cooldown')
    assert decision.msg == ('guardrail cooldown refused restart of n1: last remediation (restart, failure) 100s ago, '
                            'within cooldown=300s; wait 200s or pass force=true')
    assert (decision.numbers['last_action_at'], decision.numbers['cooldown_remaining']) == (NOW - 100, 200.0)
    forced = decide(history=history, force=True)
    assert (forced.allowed, forced.numbers['forced']) == (True, True)
    assert forced.msg.endswith('; cooldown overridden by force=true (last remediation (restart, failure) 100s ago)')
    assert decide(history=history, cooldown=100.0).allowed
    assert decide(history=[event('success', NOW - 301)]).allowed


def test_breaker_trips_after_n_failures_in_window_not_for_old_ones():
    recent = [event('failure', NOW - 3000), event('failure', NOW - 2000), event('failure', NOW - 1000)]
    decision = decide(history=recent)
    assert (decision.allowed, decision.rule, decision.escalate) == (False, 'breaker', True)
    assert decision.msg == ('guardrail breaker refused restart of n1: 3 failed remediations within breaker_window=3600s '
                            '(breaker_failures=3), the latest 1000s ago; the circuit breaker is open, escalate to a '
                            'human, and once they have looked pass breaker_reset=true for one run')
    assert decision.numbers['failures_in_window'] == 3
    old = [event('failure', NOW - 4000)] + recent[1:]
    assert decide(history=old).allowed
    assert decide(history=old).numbers['failures_in_window'] == 2
    assert decide(history=recent, breaker_failures=4).allowed
    # force overrides the cooldown only, never the breaker.
    assert decide(history=recent + [event('attempt', NOW - 10)], force=True).rule == 'breaker'


def test_breaker_reset_in_history_and_as_option():
    failures = [event('failure', NOW - 300 + i) for i in range(3)]
    assert decide(history=failures, cooldown=0.0).rule == 'breaker'
    assert decide(history=failures, cooldown=0.0, breaker_reset=True).allowed
    assert decide(history=failures + [event('reset', NOW - 200)], cooldown=0.0).allowed
    assert decide(history=failures + [event('reset', NOW - 200), event('failure', NOW - 5)], cooldown=0.0).allowed


def test_without_fleet_only_lock_breaker_and_cooldown_apply():
    settings = settings_for()
    decision = evaluate(settings, 'cm/flags', None, {}, [], NOW, 'set flag')
    assert decision.allowed
    assert decision.msg == 'guardrails allow set flag of cm/flags: no fleet given, so quorum and max_unavailable were not checked'
    assert evaluate(settings, 'cm/flags', None, {}, [event('attempt', NOW - 1)], NOW, 'set flag').rule == 'cooldown'


# --- store and guard ---------------------------------------------------------------------

def test_guard_records_attempt_and_outcome_with_private_permissions(tmp_path):
    state = tmp_path / 'state'
    clock = Clock()
    with Guard(params_for(state, fleet=FIVE), 'n1', 'restart', run_id='r-1', clock=clock) as g:
        clock.now += 5
        result = g.succeeded('restarted, healthy again')
    assert result['guardrails']['outcome'] == 'success'
    assert result['guardrails']['allowed'] is True
    store = FileStateStore(str(state), 3600)
    assert [(e['outcome'], e['at'], e['run_id']) for e in store.history('n1')] == \
        [('attempt', NOW, 'r-1'), ('success', NOW + 5, 'r-1')]
    assert store.leases() == {}
    assert stat.S_IMODE(os.stat(str(state)).st_mode) == 0o700
    for name in os.listdir(str(state)):
        assert stat.S_IMODE(os.stat(str(state / name)).st_mode) == 0o600, name
    assert sorted(os.listdir(str(state))) == ['guardrails.json', 'guardrails.lock']


def test_exception_in_block_records_failure_and_releases(tmp_path):
    clock = Clock()
    with pytest.raises(ChainopsError):
        with Guard(params_for(tmp_path, fleet=FIVE), 'n1', 'restart', run_id='r-1', clock=clock):
            raise ChainopsError('container bitcell-node-n1 did not come back')
    store = FileStateStore(str(tmp_path), 3600)
    assert [(e['outcome'], e['detail']) for e in store.history('n1')] == \
        [('attempt', None), ('failure', 'container bitcell-node-n1 did not come back')]
    assert store.leases() == {}


def test_breaker_trips_escalates_and_reset_reopens(tmp_path):
    clock = Clock()
    params = params_for(tmp_path, fleet=FIVE, cooldown=60.0)
    results = []
    for attempt in range(3):
        with Guard(params, 'n1', 'restart', run_id='r-%d' % attempt, clock=clock) as g:
            results.append(g.failed('still unhealthy'))
        clock.now += 120
    assert [r['guardrails']['escalate'] for r in results] == [False, False, True]
    assert results[2]['guardrails']['numbers']['failures_in_window'] == 3
    assert results[2]['guardrails']['msg'] == (
        'restart of n1 failed (still unhealthy): 3 failed remediations within breaker_window=3600s reach breaker_failures=3, the circuit '
        'breaker is now open; escalate to a human, no further remediation of n1 runs until breaker_reset=true')
    with pytest.raises(GuardrailRefused) as info:
        Guard(params, 'n1', 'restart', clock=clock).__enter__()
    assert (info.value.decision.rule, info.value.details['guardrails']['escalate']) == ('breaker', True)
    with pytest.raises(GuardrailRefused):
        plan(params, 'n1', 'restart', clock=clock)
    # A human looked: one run with breaker_reset closes it; later failures count afresh.
    reset = dict(params, breaker_reset=True)
    assert plan(reset, 'n1', 'restart', clock=clock)[0].allowed
    with Guard(reset, 'n1', 'restart', clock=clock) as g:
        clock.now += 1
        assert g.failed('again')['guardrails']['numbers']['failures_in_window'] == 1
    clock.now += 120
    assert plan(params, 'n1', 'restart', clock=clock)[0].numbers['failures_in_window'] == 1


def test_refusal_records_nothing_and_releases_the_lock(tmp_path):
    fleet = fleet_of('n1:a', 'n2:a', 'n3:a:down')
    with pytest.raises(GuardrailRefused) as info:
        with guard(params_for(tmp_path, fleet=fleet), 'n1', 'restart'):
            pytest.fail('must not run')
    assert info.value.decision.rule == 'quorum'
    assert info.value.fail_kwargs()['msg'] == info.value.decision.msg
    store = FileStateStore(str(tmp_path), 3600)
    assert (store.leases(), store.history('n1')) == ({}, [])


def test_stale_lock_is_taken_over_after_ttl(tmp_path):
    params = params_for(tmp_path, fleet=FIVE, lock_ttl=60.0, cooldown=30.0)
    store = open_store(validate_guardrail_settings(params))
    store.acquire('n1', 'crashed-owner', 60.0, 0, {'run_id': 'r-crashed', 'action': 'restart'}, clock=lambda: NOW)
    clock = Clock(NOW + 59)
    with pytest.raises(GuardrailRefused) as info:
        Guard(params, 'n1', 'restart', clock=clock).__enter__()
    assert info.value.decision.rule == 'lock'
    clock.now = NOW + 61
    predicted = plan(params, 'n1', 'restart', clock=clock)[1]['guardrails']
    with Guard(params, 'n1', 'restart', run_id='r-new', clock=clock) as g:
        real = g.result()['guardrails']
    assert real['stale_lock'] == predicted['stale_lock'] == {
        'run_id': 'r-crashed', 'action': 'restart', 'host': None, 'pid': None, 'acquired_at': NOW, 'age': 61.0}
    assert real['msg'] == predicted['msg']
    assert real['msg'].endswith('; took over the stale lock of run r-crashed (61s ago, past lock_ttl) and counted that '
                                'run as failed')
    assert [(e['outcome'], e['run_id']) for e in store.history('n1')] == \
        [('failure', 'r-crashed'), ('attempt', 'r-new'), ('success', 'r-new')]


def test_lock_timeout_waits_for_the_holder(tmp_path):
    params = params_for(tmp_path, fleet=FIVE, cooldown=0.0)
    entered = threading.Event()

    def holder():
        with guard(params, 'n1', 'restart', run_id='r-holder'):
            entered.set()
            time.sleep(0.5)

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    with pytest.raises(GuardrailRefused) as info:
        guard(dict(params, lock_timeout=0.2), 'n1', 'restart').__enter__()
    assert info.value.decision.rule == 'lock'
    assert 'run r-holder' in info.value.msg and info.value.msg.endswith('gave up after lock_timeout=0.2s')
    started = time.monotonic()
    with guard(dict(params, lock_timeout=5.0), 'n1', 'restart', run_id='r-waiter') as g:
        waited = time.monotonic() - started
        assert g.decision.allowed
    thread.join()
    assert 0.1 < waited < 5


def test_check_mode_plan_writes_nothing_and_predicts_the_run(tmp_path):
    state = tmp_path / 'state'
    params = params_for(state, fleet=FIVE)
    clock = Clock()
    assert plan(params, 'n1', 'restart', clock=clock)[0].allowed
    assert not state.exists()
    with Guard(params, 'n2', 'restart', run_id='r-1', clock=clock) as g:
        before = snapshot(tmp_path)
        # n2 is being remediated: plan reports the held lock and counts n2 as not healthy, without writing.
        with pytest.raises(GuardrailRefused) as info:
            plan(params, 'n2', 'restart', clock=clock)
        assert info.value.decision.rule == 'lock'
        with pytest.raises(GuardrailRefused) as info:
            plan(params, 'n1', 'restart', clock=clock)
        assert (info.value.decision.rule, info.value.decision.numbers['healthy']) == ('quorum', 4)
        assert snapshot(tmp_path) == before
        g.succeeded()
    clock.now += 10
    for target in ('n1', 'n2'):
        before = snapshot(tmp_path)
        try:
            predicted = plan(params, target, 'restart', clock=clock)[1]
        except GuardrailRefused as exc:
            predicted = exc.details
        assert snapshot(tmp_path) == before
        try:
            with Guard(params, target, 'restart', clock=clock) as g:
                real = g.result()
        except GuardrailRefused as exc:
            real = exc.details
        assert predicted == real
    assert real['guardrails']['rule'] == 'cooldown'


def test_history_is_trimmed_to_what_the_rules_need(tmp_path):
    store = FileStateStore(str(tmp_path), 3600)
    store.record('n1', event('failure', NOW - 7200))
    store.record('n2', event('failure', NOW - 7200))
    for i in range(600):
        store.record('n1', event('attempt', NOW + i))
    history = store.history('n1')
    assert len(history) == 500 and history[0]['at'] == NOW + 100
    assert store.history('n2') == []


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    (tmp_path / 'guardrails.json').write_text('{not json')
    with pytest.raises(ChainopsError) as info:
        plan(params_for(tmp_path, fleet=FIVE), 'n1', 'restart')
    assert info.value.msg.startswith('cannot read the guardrail state %s (' % (tmp_path / 'guardrails.json'))
    assert info.value.msg.endswith('); fix or move the file aside, or point state_dir elsewhere')


class RecordingModule:
    def __init__(self, on_refusal):
        self.params = {'on_refusal': on_refusal}
        self.calls = []

    def exit_json(self, **kwargs):
        self.calls.append(('exit_json', kwargs))

    def fail_json(self, **kwargs):
        self.calls.append(('fail_json', kwargs))


@pytest.mark.parametrize('on_refusal, call, extra', [
    ('fail', 'fail_json', {}),
    ('skip', 'exit_json', {'changed': False, 'skipped': True}),
])
def test_exit_refused(tmp_path, on_refusal, call, extra):
    fleet = fleet_of('n1:a', 'n2:a:down')
    with pytest.raises(GuardrailRefused) as info:
        plan(params_for(tmp_path, fleet=fleet), 'n1', 'restart')
    module = RecordingModule(on_refusal)
    exit_refused(module, info.value)
    assert module.calls == [(call, dict(extra, msg=info.value.decision.msg, guardrails=info.value.details['guardrails']))]
    assert module.calls[0][1]['guardrails']['rule'] == 'quorum'


# --- two real processes --------------------------------------------------------------------

CONTENDER = textwrap.dedent('''
    import json, sys, time
    from ansible_collections.chainops.runbooks.plugins.module_utils.guardrails import GuardrailRefused, guard
    params, target, run_id, start_at = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        with guard(params, target, 'restart', run_id) as g:
            time.sleep(1.0)
        print(json.dumps({'run_id': run_id, 'proceeded': True}))
    except GuardrailRefused as exc:
        print(json.dumps({'run_id': run_id, 'proceeded': False, 'rule': exc.decision.rule, 'msg': exc.msg}))
''')


def contend(collections_path, params, targets):
    env = dict(os.environ, PYTHONPATH=collections_path)
    start_at = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, '-c', CONTENDER, json.dumps(params), target, 'run-%d' % index,
                               repr(start_at)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for index, target in enumerate(targets)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_concurrent_runs_on_one_target_only_one_proceeds(tmp_path, collections_path):
    params = params_for(tmp_path, fleet=FIVE)
    results = contend(collections_path, params, ['n1'] * 4)
    proceeded = [r for r in results if r['proceeded']]
    assert len(proceeded) == 1
    for refused in [r for r in results if not r['proceeded']]:
        assert refused['rule'] == 'lock'
        assert refused['msg'].startswith('guardrail lock refused restart of n1: run %s ' % proceeded[0]['run_id'])
    history = FileStateStore(str(tmp_path), 3600).history('n1')
    assert [(e['outcome'], e['run_id']) for e in history] == \
        [('attempt', proceeded[0]['run_id']), ('success', proceeded[0]['run_id'])]


def test_concurrent_runs_on_different_targets_respect_max_unavailable(tmp_path, collections_path):
    # A run that sees both others in flight is refused by quorum (7 - 3 < 5); at most one may ever proceed.
    seven = fleet_of('n1:a', 'n2:a', 'n3:b', 'n4:b', 'n5:c', 'n6:c', 'n7:c')
    results = contend(collections_path, params_for(tmp_path, fleet=seven), ['n1', 'n2', 'n3'])
    assert len([r for r in results if r['proceeded']]) <= 1
    assert {r['rule'] for r in results if not r['proceeded']} <= {'max_unavailable', 'quorum'}
