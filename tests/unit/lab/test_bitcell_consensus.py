# SPDX-License-Identifier: GPL-3.0-or-later
"""Proposer schedule, quorum and proof work."""
from __future__ import annotations

import time

from bitcell_node.consensus import (active_miners, compute_proof, eligible_miners, has_quorum, proposer_for, slot_at,
                                    slot_end)

MINERS = ["us-east-1", "us-east-2", "us-west-1", "eu-west-1", "eu-west-2"]


def test_slots():
    assert slot_at(10.0, 2.0) == 5 and slot_at(11.999, 2.0) == 5 and slot_at(12.0, 2.0) == 6
    assert slot_end(5, 2.0) == 12.0
    assert slot_at(1.0, 0.5) == 2


def test_schedule_rotates_over_sorted_eligible_miners():
    eligible = eligible_miners(MINERS, banned={"us-west-1"})
    assert eligible == ["eu-west-1", "eu-west-2", "us-east-1", "us-east-2"]
    assert [proposer_for(slot, eligible) for slot in range(8, 13)] == \
        ["eu-west-1", "eu-west-2", "us-east-1", "us-east-2", "eu-west-1"]
    assert proposer_for(3, []) is None
    assert eligible_miners(MINERS, banned=["nobody"]) == sorted(MINERS)


def test_quorum_is_more_than_two_thirds_of_the_miner_set():
    # 5 miners: one down still produces, a 3+2 partition halts both sides.
    assert has_quorum(4, 5) and not has_quorum(3, 5) and not has_quorum(2, 5)
    # 4 miners: one down continues, two banned halts.
    assert has_quorum(3, 4) and not has_quorum(2, 4)
    assert has_quorum(1, 1) and not has_quorum(0, 0)


def test_active_miners_counts_self_and_connected_eligible():
    eligible = eligible_miners(MINERS, banned={"eu-west-2"})
    assert active_miners(eligible, "us-east-1", ["us-east-2", "eu-west-2", "stranger"]) == 2
    assert active_miners(eligible, "us-east-1", ["us-east-2", "us-west-1", "eu-west-1"]) == 4
    assert active_miners(eligible, "observer", []) == 0


def test_proof_is_deterministic_and_costs_time():
    seed = bytes(range(32))
    assert compute_proof(seed, 3) == compute_proof(seed, 3)
    assert compute_proof(seed, 3) != compute_proof(seed, 4)
    assert compute_proof(seed, 3) != compute_proof(bytes(32), 3)
    assert len(compute_proof(seed, 1)) == 64
    started = time.perf_counter()
    compute_proof(seed, 400)
    assert time.perf_counter() - started > 0.002    # 400 x 64 KiB of sha256 is real work
