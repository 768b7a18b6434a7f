# SPDX-License-Identifier: GPL-3.0-or-later
"""The controllers' decisions: rolling update steps, StatefulSet ordering, template hashes."""
from __future__ import annotations

import pytest

from kubelab.controllers import (Rs, recreate_targets, resolve_fraction, rolling_targets, statefulset_step,
                                 strip_controller_labels, template_hash)


def simulate(replicas, surge, unavailable, old_replicas):
    """Run rolling_targets to completion with every pod becoming available at once; return the steps."""
    new, old = Rs(0, 0), Rs(old_replicas, old_replicas)
    steps = []
    for _step in range(20):
        new_target, (old_target,) = rolling_targets(replicas, surge, unavailable, new, [old])
        steps.append((new_target, old_target))
        if (new_target, old_target) == (new.replicas, old.replicas):
            break
        new, old = Rs(new_target, new_target), Rs(old_target, old_target)
    return steps


def test_default_strategy_for_two_replicas_surges_one_and_never_drops_availability():
    surge, unavailable = resolve_fraction("25%", 2, True), resolve_fraction("25%", 2, False)
    assert (surge, unavailable) == (1, 0)
    steps = simulate(2, surge, unavailable, 2)
    assert steps == [(1, 2), (1, 1), (2, 1), (2, 0), (2, 0)]
    assert all(n + o >= 2 for n, o in steps), "never fewer than the replicas"
    assert all(n + o <= 3 for n, o in steps), "never more than replicas + surge"


def test_max_unavailable_lets_old_pods_go_before_new_ones_are_ready():
    new_target, old_targets = rolling_targets(4, 0, 2, Rs(0, 0), [Rs(4, 4)])
    assert (new_target, old_targets) == (0, [2])
    assert rolling_targets(4, 0, 2, Rs(0, 0), [Rs(2, 2)]) == (2, [2])


def test_unavailable_old_pods_are_removed_first_and_new_pods_wait_for_readiness():
    # the new pod is not ready and only 1 old pod is available (below the minimum of 2):
    # an available pod may not go, but one of the crashing ones may
    assert rolling_targets(3, 1, 1, Rs(1, 0), [Rs(3, 1)]) == (1, [2])
    assert rolling_targets(3, 1, 0, Rs(1, 0), [Rs(3, 2)]) == (1, [3]), "no budget at all without maxUnavailable"


def test_scaling_without_a_template_change_is_immediate():
    assert rolling_targets(5, 1, 1, Rs(2, 2), []) == (5, [])
    assert rolling_targets(1, 1, 1, Rs(3, 3), []) == (1, [])
    assert rolling_targets(0, 1, 0, Rs(2, 2), []) == (0, [])


def test_zero_surge_and_zero_unavailable_still_progresses():
    assert rolling_targets(2, 0, 0, Rs(0, 0), [Rs(2, 2)]) == (0, [1])


def test_recreate_stops_every_old_pod_first():
    assert recreate_targets(2, Rs(0, 0), [Rs(2, 2)], 2) == (0, [0])
    assert recreate_targets(2, Rs(0, 0), [Rs(0, 0)], 1) == (0, [0]), "old pods still terminating"
    assert recreate_targets(2, Rs(0, 0), [Rs(0, 0)], 0) == (2, [0])


@pytest.mark.parametrize("value, total, up, expected", [
    ("25%", 4, True, 1), ("25%", 3, True, 1), ("25%", 3, False, 0), (2, 10, True, 2), ("100%", 3, False, 3)])
def test_resolve_fraction(value, total, up, expected):
    assert resolve_fraction(value, total, up) == expected


def pods(*entries):
    """ordinal -> (ready, terminating, revision) from (ordinal, ready, terminating, revision) tuples."""
    return {o: (ready, term, rev) for o, ready, term, rev in entries}


def test_statefulset_creates_ordinals_in_order_waiting_for_readiness():
    assert statefulset_step(3, {}, "r1") == ("create", 0)
    assert statefulset_step(3, pods((0, False, False, "r1")), "r1") is None
    assert statefulset_step(3, pods((0, True, False, "r1")), "r1") == ("create", 1)


def test_statefulset_scales_down_highest_first_one_at_a_time():
    full = pods((0, True, False, "r1"), (1, True, False, "r1"), (2, True, False, "r1"))
    assert statefulset_step(1, full, "r1") == ("delete", 2)
    assert statefulset_step(1, {**full, 2: (True, True, "r1")}, "r1") is None


def test_statefulset_rolling_update_goes_in_reverse_ordinal_order_and_honours_partition():
    old = pods((0, True, False, "r1"), (1, True, False, "r1"), (2, True, False, "r1"))
    assert statefulset_step(3, old, "r2") == ("delete", 2)
    assert statefulset_step(3, {**old, 2: (True, False, "r2")}, "r2") == ("delete", 1)
    assert statefulset_step(3, {**old, 2: (False, False, "r2")}, "r2") is None, "waits for the updated pod"
    assert statefulset_step(3, {**old, 2: (True, False, "r2")}, "r2", partition=2) is None
    done = pods((0, True, False, "r2"), (1, True, False, "r2"), (2, True, False, "r2"))
    assert statefulset_step(3, done, "r2") is None


def test_template_hash_ignores_the_labels_controllers_add():
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    labelled = {**template, "metadata": {"labels": {"app": "a", "pod-template-hash": "x"}}}
    assert template_hash(template) == template_hash(labelled)
    assert strip_controller_labels(labelled) == template
    changed = {**template, "spec": {"containers": [{"name": "c", "image": "j"}]}}
    assert template_hash(changed) != template_hash(template)
