# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Guardrails every remediation module goes through (private API).

Rules, checked in this order by the pure function ``evaluate``:

* ``lock``: another run holds the target's lease (two runs never act on the
  same target at once);
* ``breaker``: ``breaker_failures`` failed remediations of the target within
  ``breaker_window`` seconds open the circuit breaker until a human passes
  ``breaker_reset``; the refusal asks for escalation;
* ``cooldown``: no second remediation of a target within ``cooldown`` seconds
  of its last one, unless ``force`` (force overrides nothing else);
* ``quorum``: taking a healthy target down must leave at least
  ``min_healthy`` healthy (default: more than 2/3 of the fleet);
* ``max_unavailable`` / ``max_unavailable_per_region``: at most that many
  targets of the fleet (of the region) unavailable at once.

A remediation makes its target unavailable while it runs; targets that other
runs are remediating (live leases in the store) count as unavailable and not
healthy.  Remediating a target that is already unhealthy changes neither
count, so recovering a down node (even a whole region) is never blocked by
quorum or max_unavailable.

State (leases and per-target history) lives in a ``StateStore``;
``FileStateStore`` keeps it in JSON under ``state_dir``.  A shared backend
(Redis, PostgreSQL) implements the same few primitives.

Modules use ``guard()`` for a real run and ``plan()`` in check mode; both
raise ``GuardrailRefused`` on refusal, which ``exit_refused()`` reports with
``fail_json`` or, with ``on_refusal=skip``, ``exit_json(skipped=True)``.
``guardrails_argument_spec()`` is the twin of the ``chainops.runbooks.guardrails``
doc fragment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_int_range,
    check_number,
    fmt_value,
)

__all__ = [
    'Decision',
    'FileStateStore',
    'Guard',
    'GuardrailRefused',
    'GuardrailSettings',
    'StateStore',
    'default_min_healthy',
    'evaluate',
    'exit_refused',
    'guard',
    'guardrails_argument_spec',
    'guardrails_result',
    'open_store',
    'plan',
    'validate_fleet',
    'validate_guardrail_settings',
]

RULES = ('lock', 'breaker', 'cooldown', 'quorum', 'max_unavailable', 'max_unavailable_per_region')
OUTCOMES = ('attempt', 'success', 'failure')
RESET = 'reset'
STATE_DIR_ENV = 'CHAINOPS_STATE_DIR'
DEFAULT_STATE_DIR = '~/.chainops/state'
MAX_BREAKER_FAILURES = 100
HISTORY_LIMIT = 500
LOCK_POLL_SECONDS = 0.1
UNKNOWN_REGION = 'unknown'


def guardrails_argument_spec():
    """Guardrail options of every remediation module (twin of the ``guardrails`` doc fragment)."""
    return dict(
        fleet=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            region=dict(type='str'),
            healthy=dict(type='bool', required=True),
        )),
        max_unavailable=dict(type='int', default=1),
        max_unavailable_per_region=dict(type='int'),
        min_healthy=dict(type='int'),
        cooldown=dict(type='float', default=300.0),
        force=dict(type='bool', default=False),
        breaker_failures=dict(type='int', default=3),
        breaker_window=dict(type='float', default=3600.0),
        breaker_reset=dict(type='bool', default=False),
        lock_timeout=dict(type='float', default=0.0),
        lock_ttl=dict(type='float', default=900.0),
        state_dir=dict(type='path'),
        state_store=dict(type='str', default='file', choices=['file']),
        on_refusal=dict(type='str', default='fail', choices=['fail', 'skip']),
    )


class GuardrailSettings:
    """Validated guardrail options (the fleet is validated separately, against the target)."""

    __slots__ = ('max_unavailable', 'max_unavailable_per_region', 'min_healthy', 'cooldown', 'force',
                 'breaker_failures', 'breaker_window', 'breaker_reset', 'lock_timeout', 'lock_ttl',
                 'state_dir', 'state_store', 'on_refusal')

    def __init__(self, **values):
        defaults = {name: spec.get('default') for name, spec in guardrails_argument_spec().items()}
        defaults.update(values)
        for name in self.__slots__:
            setattr(self, name, defaults[name])


def _resolve_state_dir(value):
    path = value or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return os.path.abspath(os.path.expanduser(path))


def validate_guardrail_settings(params):
    """Check the ``guardrails_argument_spec`` options and return ``GuardrailSettings``."""
    check_int_range('max_unavailable', params['max_unavailable'], minimum=0)
    if params['max_unavailable_per_region'] is not None:
        check_int_range('max_unavailable_per_region', params['max_unavailable_per_region'], minimum=0)
    if params['min_healthy'] is not None:
        check_int_range('min_healthy', params['min_healthy'], minimum=0)
    check_number('cooldown', params['cooldown'], minimum=0, unit='seconds')
    check_int_range('breaker_failures', params['breaker_failures'], minimum=1, maximum=MAX_BREAKER_FAILURES)
    check_number('breaker_window', params['breaker_window'], minimum=0, exclusive_minimum=True, unit='seconds')
    check_number('lock_timeout', params['lock_timeout'], minimum=0, unit='seconds')
    check_number('lock_ttl', params['lock_ttl'], minimum=0, exclusive_minimum=True, unit='seconds')
    for name, allowed in (('state_store', ('file',)), ('on_refusal', ('fail', 'skip'))):
        if params[name] not in allowed:
            raise ChainopsError('%s=%s is not allowed; %s must be one of %s' % (
                name, fmt_value(params[name]), name, ', '.join(allowed)))
    return GuardrailSettings(
        max_unavailable=params['max_unavailable'],
        max_unavailable_per_region=params['max_unavailable_per_region'],
        min_healthy=params['min_healthy'],
        cooldown=float(params['cooldown']),
        force=bool(params['force']),
        breaker_failures=params['breaker_failures'],
        breaker_window=float(params['breaker_window']),
        breaker_reset=bool(params['breaker_reset']),
        lock_timeout=float(params['lock_timeout']),
        lock_ttl=float(params['lock_ttl']),
        state_dir=_resolve_state_dir(params['state_dir']),
        state_store=params['state_store'],
        on_refusal=params['on_refusal'],
    )


def default_min_healthy(size):
    """Consensus quorum: more than 2/3 of ``size`` nodes, i.e. floor(2n/3) + 1."""
    return (2 * size) // 3 + 1


def validate_fleet(fleet, target, min_healthy=None):
    """Check the ``fleet`` option against ``target``; return ``[{name, region, healthy}]`` or None.

    None means no fleet was given: the fleet-wide rules are then not checked.
    """
    if not isinstance(target, str) or not target.strip():
        raise ChainopsError('target=%s is not allowed; the guarded target must be a non-empty name' % fmt_value(target))
    if fleet is None:
        return None
    if not isinstance(fleet, list) or not fleet:
        raise ChainopsError('fleet=%s is not allowed; give a non-empty list of {name, region, healthy}, '
                            'or omit fleet for actions that take no fleet member down' % fmt_value(fleet))
    seen = {}
    normalised = []
    for index, item in enumerate(fleet):
        where = 'fleet[%d]' % index
        if not isinstance(item, dict):
            raise ChainopsError('%s=%s is not allowed; each fleet item must be a dict with name, region and healthy' % (
                where, fmt_value(item)))
        name = item.get('name')
        if not isinstance(name, str) or not name.strip():
            raise ChainopsError('%s.name=%s is not allowed; name must be a non-empty string' % (where, fmt_value(name)))
        if name in seen:
            raise ChainopsError('%s.name=%s is a duplicate of fleet[%d].name; fleet names must be unique' % (
                where, fmt_value(name), seen[name]))
        seen[name] = index
        healthy = item.get('healthy')
        if not isinstance(healthy, bool):
            raise ChainopsError('%s.healthy=%s is not allowed (name=%s); healthy must be true or false' % (
                where, fmt_value(healthy), fmt_value(name)))
        region = item.get('region')
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise ChainopsError('%s.region=%s is not allowed; region must be a non-empty string or omitted' % (
                where, fmt_value(region)))
        normalised.append({'name': name, 'region': region, 'healthy': healthy})
    if target not in seen:
        raise ChainopsError('target=%s is not in fleet (%s); the fleet must include the target it is the health view of' % (
            fmt_value(target), ', '.join(sorted(seen))))
    if min_healthy is not None and min_healthy > len(normalised):
        raise ChainopsError('min_healthy=%d is not allowed; min_healthy must be <= %d, the size of fleet' % (
            min_healthy, len(normalised)))
    return normalised


# --- rules ---------------------------------------------------------------------------

class Decision:
    """Outcome of ``evaluate``: allowed or refused by ``rule``, with the message and the figures used."""

    __slots__ = ('allowed', 'rule', 'msg', 'numbers', 'escalate')

    def __init__(self, allowed, rule, msg, numbers, escalate=False):
        self.allowed = allowed
        self.rule = rule
        self.msg = msg
        self.numbers = numbers
        self.escalate = escalate

    def as_dict(self):
        return {'allowed': self.allowed, 'rule': self.rule, 'msg': self.msg, 'numbers': dict(self.numbers),
                'escalate': self.escalate}


class GuardrailRefused(ChainopsError):
    """A guardrail refused the action; ``decision`` says which rule and why."""

    def __init__(self, decision, result=None):
        result = result or guardrails_result(decision)
        super().__init__(result['guardrails']['msg'], **result)
        self.decision = decision


def _secs(seconds):
    return '%ss' % fmt_value(round(seconds, 1))


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


def _holder_text(lease, now):
    return 'run %s (%s, host %s pid %s) has held its lock for %s and keeps it for up to %s more' % (
        lease.get('run_id'), lease.get('action'), lease.get('host'), lease.get('pid'),
        _secs(now - lease['acquired_at']), _secs(lease['expires_at'] - now))


def lock_refusal(settings, target, action, lease, now, waited=0.0):
    """The ``lock`` refusal: ``lease`` is the live lease of another run on ``target``."""
    way_out = ('gave up after lock_timeout=%s' % _secs(waited)) if waited else \
        'wait for it to finish, or pass lock_timeout to wait up to that many seconds'
    msg = 'guardrail lock refused %s of %s: %s; two runs never act on the same target at once; %s' % (
        action, target, _holder_text(lease, now), way_out)
    numbers = {'lock_holder': lease.get('run_id'), 'lock_action': lease.get('action'),
               'lock_age': _round(now - lease['acquired_at']), 'lock_expires_in': _round(lease['expires_at'] - now),
               'lock_timeout': settings.lock_timeout, 'lock_ttl': settings.lock_ttl}
    return Decision(False, 'lock', msg, numbers)


def _breaker_failures(settings, history, now, reset_at=None):
    """Failure times of ``history`` inside the breaker window and after the last reset."""
    start = now - settings.breaker_window
    if reset_at is not None:
        start = max(start, reset_at)
    for event in history:
        if event.get('outcome') == RESET:
            start = max(start, event['at'])
    return [event['at'] for event in history if event.get('outcome') == 'failure' and event['at'] > start]


def _last_action(history):
    events = [event for event in history if event.get('outcome') in OUTCOMES]
    return max(events, key=lambda event: event['at']) if events else None


def _names(names, inflight):
    """``node-3 (unhealthy), node-4 (being remediated by run r-7)``."""
    parts = []
    for name in sorted(names):
        lease = inflight.get(name)
        parts.append('%s (%s)' % (name, ('being remediated by run %s' % lease.get('run_id')) if lease else 'unhealthy'))
    return ', '.join(parts)


def evaluate(settings, target, fleet, inflight, history, now, action='remediation'):
    """Decide whether ``action`` on ``target`` may run now (pure).

    ``fleet``: ``validate_fleet`` output or None; ``inflight``: ``{name:
    lease}`` of the live leases of *other* runs; ``history``: the target's
    events (``{'at', 'action', 'outcome', ...}``); ``now``: epoch seconds.
    """
    if target in inflight:
        return lock_refusal(settings, target, action, inflight[target], now)

    # breaker_reset closes the breaker now; Guard records that reset in the history before evaluating.
    failures = _breaker_failures(settings, history, now, now if settings.breaker_reset else None)
    numbers = dict(failures_in_window=len(failures), breaker_failures=settings.breaker_failures,
                   breaker_window=settings.breaker_window, breaker_reset=settings.breaker_reset)
    if len(failures) >= settings.breaker_failures:
        msg = ('guardrail breaker refused %s of %s: %d failed remediations within breaker_window=%s '
               '(breaker_failures=%d), the latest %s ago; the circuit breaker is open, escalate to a human, '
               'and once they have looked pass breaker_reset=true for one run' % (
                   action, target, len(failures), _secs(settings.breaker_window), settings.breaker_failures,
                   _secs(now - max(failures))))
        return Decision(False, 'breaker', msg, numbers, escalate=True)

    last = _last_action(history)
    remaining = max(0.0, last['at'] + settings.cooldown - now) if last else 0.0
    numbers.update(last_action_at=last['at'] if last else None, last_action=last.get('action') if last else None,
                   cooldown=settings.cooldown, cooldown_remaining=_round(remaining), forced=False)
    notes = []
    if remaining > 0:
        since = 'last remediation (%s, %s) %s ago' % (last.get('action'), last['outcome'], _secs(now - last['at']))
        if not settings.force:
            msg = 'guardrail cooldown refused %s of %s: %s, within cooldown=%s; wait %s or pass force=true' % (
                action, target, since, _secs(settings.cooldown), _secs(remaining))
            return Decision(False, 'cooldown', msg, numbers)
        numbers['forced'] = True
        notes.append('cooldown overridden by force=true (%s)' % since)

    if fleet is None:
        notes.insert(0, 'no fleet given, so quorum and max_unavailable were not checked')
        return Decision(True, None, 'guardrails allow %s of %s: %s' % (action, target, '; '.join(notes)), numbers)

    members = {item['name'] for item in fleet}
    busy = {name for name in inflight if name in members}
    down = {item['name'] for item in fleet if not item['healthy']} | busy
    takes_down = target not in down
    size = len(fleet)
    healthy = size - len(down)
    min_healthy = settings.min_healthy if settings.min_healthy is not None else default_min_healthy(size)
    numbers.update(fleet_size=size, target_healthy=takes_down, inflight=sorted(busy),
                   healthy=healthy, healthy_after=healthy - takes_down, min_healthy=min_healthy,
                   unavailable=len(down), unavailable_after=len(down) + takes_down,
                   max_unavailable=settings.max_unavailable)
    region = next(item['region'] for item in fleet if item['name'] == target)
    in_region = {item['name'] for item in fleet if item['region'] == region}
    region_down = down & in_region
    numbers.update(region=region or UNKNOWN_REGION, region_size=len(in_region),
                   region_unavailable=len(region_down), region_unavailable_after=len(region_down) + takes_down,
                   max_unavailable_per_region=settings.max_unavailable_per_region)

    if not takes_down:
        notes.insert(0, '%s is already %s, so it changes neither the healthy count (%d of %d, min_healthy=%d) '
                        'nor the unavailable count (%d, max_unavailable=%d)' % (
                            target, 'being remediated' if target in busy else 'unhealthy', healthy, size,
                            min_healthy, len(down), settings.max_unavailable))
        return Decision(True, None, 'guardrails allow %s of %s: %s' % (action, target, '; '.join(notes)), numbers)

    if healthy - 1 < min_healthy:
        why = ' (more than 2/3 of %d)' % size if settings.min_healthy is None else ''
        busy_txt = (', %d being remediated by other runs' % len(busy)) if busy else ''
        msg = ('guardrail quorum refused %s of %s: %d of %d nodes healthy%s, %s would leave %d, below min_healthy=%d%s; '
               'wait until more nodes are healthy, or lower min_healthy if losing consensus is acceptable' % (
                   action, target, healthy, size, busy_txt, action, healthy - 1, min_healthy, why))
        return Decision(False, 'quorum', msg, numbers)

    if len(down) + 1 > settings.max_unavailable:
        msg = ('guardrail max_unavailable refused %s of %s: %d of %d nodes already unavailable%s, %s would make %d '
               'unavailable, above max_unavailable=%d; wait until they are back, or raise max_unavailable' % (
                   action, target, len(down), size, (' (%s)' % _names(down, inflight)) if down else '', action,
                   len(down) + 1, settings.max_unavailable))
        return Decision(False, 'max_unavailable', msg, numbers)

    limit = settings.max_unavailable_per_region
    if limit is not None and len(region_down) + 1 > limit:
        msg = ('guardrail max_unavailable_per_region refused %s of %s: %d of %d nodes in region %s already unavailable%s, '
               '%s would make %d unavailable, above max_unavailable_per_region=%d; wait until they are back, '
               'or raise max_unavailable_per_region' % (
                   action, target, len(region_down), len(in_region), region or UNKNOWN_REGION,
                   (' (%s)' % _names(region_down, inflight)) if region_down else '', action, len(region_down) + 1, limit))
        return Decision(False, 'max_unavailable_per_region', msg, numbers)

    notes.insert(0, '%d of %d nodes healthy, %s leaves %d (min_healthy=%d); unavailable %d -> %d (max_unavailable=%d)' % (
        healthy, size, action, healthy - 1, min_healthy, len(down), len(down) + 1, settings.max_unavailable))
    return Decision(True, None, 'guardrails allow %s of %s: %s' % (action, target, '; '.join(notes)), numbers)


def guardrails_result(decision, outcome=None, stale_lock=None, msg=None, escalate=False):
    """``{'guardrails': {...}}`` for a module's result; the same keys in check mode and in a real run.

    ``outcome`` is None (check mode, refusal), ``success`` or ``failure``;
    ``stale_lock`` describes a crashed run's lock that was taken over.
    """
    result = decision.as_dict()
    result.update(outcome=outcome, stale_lock=stale_lock, escalate=decision.escalate or escalate)
    if msg:
        result['msg'] = msg
    return {'guardrails': result}


def exit_refused(module, exc):
    """Report a ``GuardrailRefused``: ``fail_json``, or with ``on_refusal=skip`` a skipped, unchanged result."""
    if module.params.get('on_refusal') == 'skip':
        module.exit_json(changed=False, skipped=True, **exc.fail_kwargs())
    else:
        module.fail_json(**exc.fail_kwargs())


# --- state store ---------------------------------------------------------------------

class StateStore:
    """Where leases and per-target history live; a backend implements the primitives below.

    A lease is ``{'owner', 'run_id', 'action', 'host', 'pid', 'acquired_at',
    'expires_at'}``; an event is ``{'at', 'action', 'outcome', 'run_id',
    'detail'}`` with outcome ``attempt``, ``success``, ``failure`` or ``reset``
    (breaker closed by a human).  Times are epoch seconds.  ``try_acquire``
    must be atomic across processes (and hosts, for a shared backend).
    """

    def try_acquire(self, target, lease, now):
        """Take ``target``'s lease unless another owner holds a live one.

        Returns ``(taken, previous)``: ``previous`` is the live holder's lease
        when not taken, or the expired lease that was taken over, or None.
        """
        raise NotImplementedError

    def release(self, target, owner):
        """Drop ``target``'s lease if ``owner`` holds it."""
        raise NotImplementedError

    def leases(self):
        """``{target: lease}``, expired ones included."""
        raise NotImplementedError

    def history(self, target):
        """The target's events, oldest first."""
        raise NotImplementedError

    def record(self, target, event):
        """Append an event to the target's history."""
        raise NotImplementedError

    def reset_breaker(self, target, now, run_id=None):
        """Close the target's circuit breaker: failures before ``now`` no longer count."""
        self.record(target, {'at': now, 'action': 'breaker_reset', 'outcome': RESET, 'run_id': run_id,
                             'detail': 'breaker_reset=true'})

    def inflight(self, now):
        """``{target: lease}`` of the live leases: targets some run is remediating."""
        return {target: lease for target, lease in self.leases().items() if lease['expires_at'] > now}

    def acquire(self, target, owner, ttl, timeout, details=None, clock=time.time, sleep=time.sleep):
        """Take ``target``'s lease for ``ttl`` seconds, waiting up to ``timeout`` seconds for a live holder.

        ``details`` (run_id, action, host, pid) go into the lease.  Returns the
        stale lease taken over, or None; raises ``LockHeld`` when still held.
        """
        started = clock()
        while True:
            now = clock()
            lease = dict(details or {}, owner=owner, acquired_at=now, expires_at=now + ttl)
            taken, previous = self.try_acquire(target, lease, now)
            if taken:
                return previous
            if now - started >= timeout:
                raise LockHeld(previous, now - started, now)
            sleep(min(LOCK_POLL_SECONDS, max(0.0, timeout - (now - started))))


class LockHeld(ChainopsError):
    """Raised by ``StateStore.acquire``: ``holder`` is the live lease of another run."""

    def __init__(self, holder, waited, now):
        super().__init__('the lock is held by run %s' % holder.get('run_id'))
        self.holder = holder
        self.waited = waited
        self.now = now


class FileStateStore(StateStore):
    """State in ``<state_dir>/guardrails.json``, guarded by ``flock`` on ``guardrails.lock``.

    Writes replace the file atomically (temporary file + rename), so readers
    need no lock.  The directory is created 0700, the files are 0600.  History
    keeps what the rules need: events of the last ``retention`` seconds, at
    most ``HISTORY_LIMIT`` per target.
    """

    FILE = 'guardrails.json'
    LOCK = 'guardrails.lock'

    def __init__(self, state_dir, retention):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, self.FILE)
        self.retention = retention

    def _load(self):
        try:
            with open(self.path, encoding='utf-8') as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return {'version': 1, 'leases': {}, 'history': {}}
        except (OSError, ValueError) as exc:
            raise ChainopsError('cannot read the guardrail state %s (%s); fix or move the file aside, '
                                'or point state_dir elsewhere' % (self.path, exc)) from None
        if not isinstance(state, dict) or not isinstance(state.get('leases'), dict) or \
                not isinstance(state.get('history'), dict):
            raise ChainopsError('the guardrail state %s is not a chainops guardrail state file; move it aside, '
                                'or point state_dir elsewhere' % self.path)
        return state

    def _write(self, state):
        tmp = '%s.%s.tmp' % (self.path, uuid.uuid4().hex)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                json.dump(state, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _transaction(self):
        """Yield the state under the store lock and write it back afterwards."""
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
            fd = os.open(os.path.join(self.state_dir, self.LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ChainopsError('cannot use state_dir=%s for the guardrail state (%s); choose a writable directory' % (
                fmt_value(self.state_dir), os.strerror(exc.errno) if exc.errno else exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self._load()
            before = json.dumps(state, sort_keys=True)
            yield state
            # A refused acquire (polled while waiting) or a no-op release need not rewrite the file.
            if json.dumps(state, sort_keys=True) != before:
                self._write(state)
        finally:
            os.close(fd)

    def try_acquire(self, target, lease, now):
        with self._transaction() as state:
            previous = state['leases'].get(target)
            if previous and previous['owner'] != lease['owner'] and previous['expires_at'] > now:
                return False, previous
            state['leases'][target] = lease
            self._trim(state, now)
            stale = previous if previous and previous['owner'] != lease['owner'] else None
            return True, stale

    def release(self, target, owner):
        with self._transaction() as state:
            if state['leases'].get(target, {}).get('owner') == owner:
                del state['leases'][target]

    def leases(self):
        return self._load()['leases']

    def history(self, target):
        return self._load()['history'].get(target, [])

    def record(self, target, event):
        with self._transaction() as state:
            state['history'].setdefault(target, []).append(event)
            self._trim(state, event['at'])

    def _trim(self, state, now):
        cutoff = now - self.retention
        for target in list(state['history']):
            events = [event for event in state['history'][target] if event['at'] >= cutoff][-HISTORY_LIMIT:]
            if events:
                state['history'][target] = events
            else:
                del state['history'][target]
        for target in [t for t, lease in state['leases'].items() if lease['expires_at'] <= cutoff]:
            del state['leases'][target]


def open_store(settings):
    """The ``StateStore`` of ``settings.state_store`` (only ``file`` so far)."""
    return FileStateStore(settings.state_dir, max(settings.cooldown, settings.breaker_window, settings.lock_ttl))


# --- orchestration -------------------------------------------------------------------

def _stale_failure(lease):
    """The failure recorded for a run whose lease expired before it finished."""
    return {'at': lease['acquired_at'], 'action': lease.get('action'), 'outcome': 'failure',
            'run_id': lease.get('run_id'), 'detail': 'lock expired before the run finished (lock_ttl exceeded)'}


def _stale_info(lease, now):
    return {'run_id': lease.get('run_id'), 'action': lease.get('action'), 'host': lease.get('host'),
            'pid': lease.get('pid'), 'acquired_at': lease['acquired_at'], 'age': _round(now - lease['acquired_at'])}


def _stale_msg(decision, stale):
    if not stale:
        return None
    return '%s; took over the stale lock of run %s (%s ago, past lock_ttl) and counted that run as failed' % (
        decision.msg, stale['run_id'], _secs(stale['age']))


def plan(params, target, action, store=None, clock=time.time):
    """Check-mode twin of ``guard``: same rules, nothing written, no lock taken.

    Returns the allowed ``Decision`` and the result dict a module returns;
    raises ``GuardrailRefused`` exactly when ``guard`` would.
    """
    settings = validate_guardrail_settings(params)
    fleet = validate_fleet(params.get('fleet'), target, settings.min_healthy)
    store = store or open_store(settings)
    now = clock()
    history = list(store.history(target))
    lease = store.leases().get(target)
    stale = None
    if lease and lease['expires_at'] <= now:
        stale = _stale_info(lease, now)
        history.append(_stale_failure(lease))
    decision = evaluate(settings, target, fleet, store.inflight(now), history, now, action)
    result = guardrails_result(decision, stale_lock=stale, msg=_stale_msg(decision, stale))
    if not decision.allowed:
        raise GuardrailRefused(decision, result)
    return decision, result


class Guard:
    """Context manager around one remediation of one target; see ``guard``."""

    def __init__(self, params, target, action, run_id=None, store=None, clock=time.time, sleep=time.sleep):
        self.settings = validate_guardrail_settings(params)
        self.fleet = validate_fleet(params.get('fleet'), target, self.settings.min_healthy)
        self.target = target
        self.action = action
        self.owner = '%s:%d:%s' % (socket.gethostname(), os.getpid(), uuid.uuid4().hex)
        self.run_id = run_id or self.owner
        self.store = store or open_store(self.settings)
        self.clock = clock
        self.sleep = sleep
        self.decision = None
        self.stale = None
        self.outcome = None
        self.escalate = False
        self.msg = None

    def __enter__(self):
        details = {'run_id': self.run_id, 'action': self.action, 'host': socket.gethostname(), 'pid': os.getpid()}
        try:
            previous = self.store.acquire(self.target, self.owner, self.settings.lock_ttl, self.settings.lock_timeout,
                                          details, clock=self.clock, sleep=self.sleep)
        except LockHeld as exc:
            raise GuardrailRefused(lock_refusal(self.settings, self.target, self.action, exc.holder, exc.now,
                                                exc.waited)) from None
        try:
            now = self.clock()
            if previous:
                self.stale = _stale_info(previous, now)
                self.store.record(self.target, _stale_failure(previous))
            if self.settings.breaker_reset:
                self.store.reset_breaker(self.target, now, self.run_id)
            inflight = {t: held for t, held in self.store.inflight(now).items() if held['owner'] != self.owner}
            self.decision = evaluate(self.settings, self.target, self.fleet, inflight, self.store.history(self.target),
                                     now, self.action)
            self.msg = _stale_msg(self.decision, self.stale)
            if not self.decision.allowed:
                raise GuardrailRefused(self.decision, self.result())
            self._record('attempt', None, now)
        except BaseException:
            self.store.release(self.target, self.owner)
            raise
        return self

    def _record(self, outcome, detail, now=None):
        self.store.record(self.target, {'at': self.clock() if now is None else now, 'action': self.action,
                                        'outcome': outcome, 'run_id': self.run_id, 'detail': detail})

    def succeeded(self, detail=None):
        """Record success; returns the result dict."""
        self._record('success', detail)
        self.outcome = 'success'
        return self.result()

    def failed(self, detail=None):
        """Record a failure (it counts toward the breaker); returns the result dict, ``escalate`` when it trips."""
        now = self.clock()
        self._record('failure', detail, now)
        self.outcome = 'failure'
        failures = _breaker_failures(self.settings, self.store.history(self.target), now)
        self.decision.numbers['failures_in_window'] = len(failures)
        if len(failures) >= self.settings.breaker_failures:
            self.escalate = True
            cause = (' (%s)' % detail) if detail else ''
            self.msg = ('%s of %s failed%s: %d failed remediations within breaker_window=%s reach breaker_failures=%d, '
                        'the circuit breaker is now open; escalate to a human, no further remediation of %s runs '
                        'until breaker_reset=true' % (self.action, self.target, cause, len(failures),
                                                      _secs(self.settings.breaker_window),
                                                      self.settings.breaker_failures, self.target))
        return self.result()

    def result(self):
        """``{'guardrails': {...}}`` for the module's result."""
        return guardrails_result(self.decision, outcome=self.outcome, stale_lock=self.stale, msg=self.msg,
                                 escalate=self.escalate)

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.outcome is None:
                # exit_json inside the block raises SystemExit(0): that is a success too.
                if exc is None or (isinstance(exc, SystemExit) and not exc.code):
                    self.succeeded()
                else:
                    self.failed(exc.msg if isinstance(exc, ChainopsError) else type(exc).__name__)
        finally:
            self.store.release(self.target, self.owner)
        return False


def guard(params, target, action, run_id=None, store=None):
    """``with guard(module.params, target, 'restart', run_id) as g:`` then ``g.succeeded()`` / ``g.failed()``.

    Entering takes the target's lock (per ``lock_timeout``), evaluates the
    rules and records an ``attempt``; a refusal raises ``GuardrailRefused``.
    An exception inside the block is recorded as a failure; leaving the block
    releases the lock.
    """
    return Guard(params, target, action, run_id=run_id, store=store)
