# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The k-of-n rule: a node is declared down only when k observers say so."""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.observer import (
    check_down_quorum,
    decide,
    normalize_observations,
)


def error_of(func, *args, **kwargs):
    with pytest.raises(ChainopsError) as info:
        func(*args, **kwargs)
    return info.value.msg


def test_two_of_three_say_down():
    decision = decide({'direct': 'down', 'prometheus': 'up', 'peers': 'down'}, 2)
    assert decision['declared_down'] is True
    assert decision['down_votes'] == 2 and decision['up_votes'] == 1 and decision['unknown_votes'] == 0
    assert decision['down_observers'] == ['direct', 'peers'] and decision['up_observers'] == ['prometheus']
    assert decision['verdict'] == '2 of 3 observers say down (direct, peers); k=2 \u2192 down'


def test_a_single_glitch_never_declares_down():
    for observer in ('direct', 'prometheus', 'peers'):
        observations = {'direct': 'up', 'prometheus': 'up', 'peers': 'up'}
        observations[observer] = 'down'
        decision = decide(observations, 2)
        assert decision['declared_down'] is False
        assert decision['verdict'] == '1 of 3 observers say down (%s); k=2 \u2192 not down' % observer


def test_unknown_observers_count_but_never_vote_down():
    decision = decide({'direct': 'down', 'peers': 'unknown', 'prometheus': None}, 2)
    assert decision['declared_down'] is False
    assert decision['unknown_observers'] == ['peers', 'prometheus']
    assert decision['verdict'] == '1 of 3 observers say down (direct), 2 unknown (peers, prometheus); k=2 \u2192 not down'


def test_nobody_says_down():
    decision = decide({'direct': 'UP', 'peers': ' Up '}, 2)
    assert decision['declared_down'] is False and decision['down_votes'] == 0
    assert decision['verdict'] == '0 of 2 observers say down; k=2 \u2192 not down'


def test_k_equal_to_n_needs_everyone():
    assert decide({'direct': 'down', 'peers': 'down'}, 2)['declared_down'] is True
    assert decide({'direct': 'down', 'peers': 'down', 'prometheus': 'up'}, 3)['declared_down'] is False
    assert decide({'direct': 'down'}, 1)['verdict'] == '1 of 1 observer says down (direct); k=1 \u2192 down'


@pytest.mark.parametrize('k, msg', [
    (0, 'k=0 is not allowed; k must be between 1 and 2 (the number of observers: direct, peers)'),
    (3, 'k=3 is not allowed; k must be between 1 and 2 (the number of observers: direct, peers)'),
    (-1, 'k=-1 is not allowed; k must be between 1 and 2'),
    ('2', "k='2' is not allowed; k must be an integer between 1 and 2"),
    (True, 'k=true is not allowed; k must be an integer'),
])
def test_k_out_of_range(k, msg):
    assert error_of(decide, {'direct': 'down', 'peers': 'up'}, k).startswith(msg)


def test_k_name_is_the_option_name():
    assert error_of(check_down_quorum, 4, ['direct', 'peers', 'prometheus'], 'down_quorum').startswith(
        'down_quorum=4 is not allowed; down_quorum must be between 1 and 3')


@pytest.mark.parametrize('observations, msg', [
    ({}, 'observations={} is not allowed; give a non-empty dict'),
    (['down'], "observations=['down'] is not allowed; give a non-empty dict"),
    ({'direct': 'dead'}, "observations.direct='dead' is not allowed; an observation must be one of up, down, unknown"),
    ({'direct': True}, 'observations.direct=true is not allowed; an observation must be one of up, down, unknown'),
    ({'': 'down'}, "observations has the observer name ''; observer names must be non-empty strings"),
])
def test_bad_observations(observations, msg):
    assert error_of(normalize_observations, observations).startswith(msg)
