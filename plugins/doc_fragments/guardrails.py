# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Guardrail options of remediation modules; twin of ``guardrails_argument_spec()`` in module_utils/guardrails.py."""

    DOCUMENTATION = r'''
options:
  fleet:
    description:
      - The health view of the fleet the target belongs to, one item per member including the target itself.
        Used by the quorum, O(max_unavailable) and O(max_unavailable_per_region) guardrails.
      - Modules that take fleet members down fill it from their own probe when you pass their targets; set it only
        to override that view.
      - When omitted (actions that take no fleet member down), those three guardrails are not checked; the lock,
        circuit breaker and cooldown always are.
      - Names must be unique and the target must be one of them.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the member, as the module names its target (usually its C(inventory_hostname)).
        type: str
        required: true
      region:
        description:
          - Region of the member, for O(max_unavailable_per_region). Members without a region form the region C(unknown).
        type: str
      healthy:
        description:
          - Whether the member is healthy now.
        type: bool
        required: true
  max_unavailable:
    description:
      - Most members of O(fleet) that may be unavailable at once when this action takes a healthy member down.
        Unavailable means unhealthy, or being remediated by any run (a live lock in the state store).
      - Remediating a member that is already unhealthy does not raise the count, so a down node is always repairable.
      - Must be >= 0; V(0) forbids taking any healthy member down.
    type: int
    default: 1
  max_unavailable_per_region:
    description:
      - Like O(max_unavailable), counted among the members of the target's region. Must be >= 0.
      - When not set there is no per-region limit.
    type: int
  min_healthy:
    description:
      - Quorum guardrail. Taking a healthy member down is refused when it would leave fewer than this many healthy
        members (members being remediated by other runs do not count as healthy).
      - When not set, the consensus quorum of O(fleet) is used, more than 2/3 of its members, that is
        floor(2n/3)+1 (4 of 5, 3 of 4, 2 of 2).
      - Must be between 0 and the size of O(fleet).
    type: int
  cooldown:
    description:
      - Seconds after the last remediation of a target (any guarded action, success or failure) during which
        another one is refused, unless O(force=true). Must be >= 0.
    type: float
    default: 300.0
  force:
    description:
      - Override the O(cooldown) guardrail.
      - It never overrides the quorum, O(max_unavailable), the circuit breaker or the lock.
    type: bool
    default: false
  breaker_failures:
    description:
      - Circuit breaker. After this many failed remediations of a target within O(breaker_window), further
        remediations of it are refused with C(escalate=true) until a human passes O(breaker_reset=true).
      - A run whose lock expired (O(lock_ttl)) before it finished counts as failed.
      - From 1 to 100.
    type: int
    default: 3
  breaker_window:
    description:
      - Seconds over which failures are counted for O(breaker_failures). Failures older than that no longer count.
        Must be > 0.
    type: float
    default: 3600.0
  breaker_reset:
    description:
      - Close an open circuit breaker of the target before evaluating the guardrails, so that earlier failures no
        longer count.
      - Set it for one run, after a human has looked at why the remediations failed, then remove it.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the target's lock when another run holds it. V(0) refuses at once. Must be >= 0.
      - In check mode a held lock is always reported as a refusal, without waiting.
    type: float
    default: 0.0
  lock_ttl:
    description:
      - Seconds after which a held lock is stale (its run crashed or hung) and another run may take it over;
        the result then says so in C(guardrails.stale_lock).
      - Must be > 0 and longer than the longest remediation, waits included.
    type: float
    default: 900.0
  state_dir:
    description:
      - Directory of the guardrail state (locks and remediation history) for O(state_store=file).
        Created with mode C(0700) if missing; its files are C(0600).
      - All runs that guard the same targets must share it, so on an AWX cluster use a shared directory
        (or, later, a shared store).
      - If not set, the environment variable E(CHAINOPS_STATE_DIR) is used, else C(~/.chainops/state).
    type: path
  state_store:
    description:
      - Where the guardrail state lives. V(file) keeps it in O(state_dir), safe across processes on one host
        or on a shared filesystem with working C(flock).
    type: str
    choices: [file]
    default: file
  on_refusal:
    description:
      - What a refusal by a guardrail does. V(fail) fails the task; V(skip) returns C(changed=false) and
        C(skipped=true). Either way C(msg) names the rule and the numbers.
    type: str
    choices: [fail, skip]
    default: fail
'''
