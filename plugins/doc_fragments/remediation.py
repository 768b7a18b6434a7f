# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Wait options of remediation modules.

    Twin of the wait options of ``remediation_argument_spec()`` in ``plugins/module_utils/remediation.py``.
    """

    DOCUMENTATION = r'''
options:
  wait:
    description:
      - Wait until the remediation took effect (the node healthy, the rollout done) before returning.
      - A wait that ends at O(wait_timeout) is a failed remediation and counts for the circuit breaker.
    type: bool
    default: true
  wait_timeout:
    description: Seconds the whole call may take, waits included; one deadline, not one per step.
    type: float
    default: 300.0
  wait_sleep:
    description: Seconds between two checks while waiting.
    type: float
    default: 2.0
  run_id:
    description:
      - Identifies this run in the guardrail state (lock holder, history), e.g. the incident id or the AWX job id.
      - Defaults to a value unique to this call.
    type: str
'''
