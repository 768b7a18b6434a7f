# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""The k-of-n rule that declares a node down (private API).

A node is declared down only when at least ``k`` independent observers say
``down``.  Observers are named (``direct``: our own health/RPC requests,
``prometheus``: ``up`` of its scrape, ``peers``: whether any other node lists
it as a peer) and each says ``up``, ``down`` or ``unknown``.  One glitching
observer therefore never declares a node down as long as ``k >= 2``.

``decide()`` is pure; ``fleet_probe`` and the ``chainops.runbooks.node_down``
filter both call it, so a role and the module apply the same rule with the same
sentence (``2 of 3 observers say down (direct, peers); k=2 → down``).
"""

from __future__ import annotations

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, fmt_value

__all__ = [
    'DEFAULT_DOWN_QUORUM',
    'DOWN',
    'STATES',
    'UNKNOWN',
    'UP',
    'check_down_quorum',
    'decide',
    'normalize_observations',
]

UP = 'up'
DOWN = 'down'
UNKNOWN = 'unknown'
STATES = (UP, DOWN, UNKNOWN)
DEFAULT_DOWN_QUORUM = 2


def normalize_observations(observations, name='observations'):
    """Check ``{observer: state}`` and return it with lower-case states.

    States are ``up``, ``down`` or ``unknown`` (any case); ``None`` means
    ``unknown``.  Raises ``ChainopsError`` naming the observer and the value.
    """
    if not isinstance(observations, dict) or not observations:
        raise ChainopsError('%s=%s is not allowed; give a non-empty dict of observer name to up, down or unknown, '
                            'for example {"direct": "down", "peers": "up"}' % (name, fmt_value(observations)))
    result = {}
    for observer, state in observations.items():
        if not isinstance(observer, str) or not observer.strip():
            raise ChainopsError('%s has the observer name %s; observer names must be non-empty strings' % (
                name, fmt_value(observer)))
        if state is None:
            state = UNKNOWN
        if not isinstance(state, str) or state.strip().lower() not in STATES:
            raise ChainopsError('%s.%s=%s is not allowed; an observation must be one of up, down, unknown' % (
                name, observer, fmt_value(state)))
        result[observer] = state.strip().lower()
    return result


def check_down_quorum(k, observers, name='k'):
    """Raise ``ChainopsError`` unless ``1 <= k <= len(observers)``.

    ``observers`` is the list of observer names that can vote; the message
    names them so that the way out is clear.
    """
    count = len(observers)
    listed = ', '.join(observers) if observers else 'none'
    if isinstance(k, bool) or not isinstance(k, int):
        raise ChainopsError('%s=%s is not allowed; %s must be an integer between 1 and %d (the number of observers: %s)' % (
            name, fmt_value(k), name, count, listed))
    if k < 1 or k > count:
        raise ChainopsError('%s=%s is not allowed; %s must be between 1 and %d (the number of observers: %s)' % (
            name, fmt_value(k), name, count, listed))
    return k


def decide(observations, k=DEFAULT_DOWN_QUORUM, name='observations', k_name='k'):
    """Apply the k-of-n rule to ``{observer: up|down|unknown}``.

    Returns a dict: ``declared_down`` (bool), ``down_votes``, ``up_votes``,
    ``unknown_votes``, ``observers_total``, ``k``, ``down_observers``,
    ``up_observers``, ``unknown_observers`` (names, in input order) and
    ``verdict``, one sentence that says why, e.g.
    ``2 of 3 observers say down (direct, peers); k=2 → down`` or
    ``1 of 3 observers say down (direct), 1 unknown (prometheus); k=2 → not down``.
    """
    states = normalize_observations(observations, name)
    check_down_quorum(k, list(states), k_name)
    down = [obs for obs, state in states.items() if state == DOWN]
    up = [obs for obs, state in states.items() if state == UP]
    unknown = [obs for obs, state in states.items() if state == UNKNOWN]
    declared = len(down) >= k
    one = len(states) == 1
    parts = ['%d of %d %s down' % (len(down), len(states), 'observer says' if one else 'observers say')]
    if down:
        parts[0] += ' (%s)' % ', '.join(down)
    if unknown:
        parts.append('%d unknown (%s)' % (len(unknown), ', '.join(unknown)))
    verdict = '%s; k=%d \u2192 %s' % (', '.join(parts), k, 'down' if declared else 'not down')
    return {
        'declared_down': declared,
        'down_votes': len(down),
        'up_votes': len(up),
        'unknown_votes': len(unknown),
        'observers_total': len(states),
        'k': k,
        'down_observers': down,
        'up_observers': up,
        'unknown_observers': unknown,
        'verdict': verdict,
    }
