# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may propose when, and the proof of work behind every block.

Deterministic and deliberately simple: time is cut into slots of `block_interval`
seconds; slot s belongs to eligible[s % len(eligible)], where eligible is the sorted
miner set minus the miners this node has banned. A proposer only proposes while it
sees more than 2/3 of the miner set (itself or directly connected peers), so a 3+2
partition of five nodes, or banning enough miners, halts the chain everywhere.
"""
from __future__ import annotations

import hashlib
import math

PROOF_CHUNK = 64 * 1024


def slot_at(unix_time, interval):
    return math.floor(unix_time / interval)


def slot_end(slot, interval):
    return (slot + 1) * interval


def eligible_miners(miners, banned):
    return sorted(set(miners) - set(banned))


def proposer_for(slot, eligible):
    return eligible[slot % len(eligible)] if eligible else None


def active_miners(eligible, self_id, connected_ids):
    """Eligible miners this node can hear from: itself and its connected peers."""
    connected = set(connected_ids) | {self_id}
    return sum(1 for miner in eligible if miner in connected)


def has_quorum(active, miner_count):
    """More than 2/3 of the whole miner set (banned miners count against the quorum)."""
    return miner_count > 0 and 3 * active > 2 * miner_count


def compute_proof(seed, rounds):
    """Chain `rounds` sha256 passes over a 64 KiB buffer derived from `seed`.

    Real, sequential CPU work whose time follows the CPU the node gets; hashing 64 KiB
    at a time lets hashlib release the GIL, so the event loop keeps answering.
    """
    buffer = (seed * (PROOF_CHUNK // len(seed) + 1))[:PROOF_CHUNK]
    digest = seed
    for dummy in range(rounds):
        hasher = hashlib.sha256(digest)
        hasher.update(buffer)
        digest = hasher.digest()
    return digest.hex()
