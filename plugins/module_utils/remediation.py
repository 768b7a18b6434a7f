# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""The frame every remediation module runs in (private API).

A remediation module reads state, plans, and hands the change to
``Remediation.guarded()``: in check mode that evaluates the guardrails without
writing anything (``guardrails.plan``); in a real run it takes the target's
lock, evaluates the same rules, runs the change and its wait, and records the
outcome (``guardrails.guard``).  A refusal ends the module (fail, or skip with
``on_refusal=skip``).  One deadline (``wait_timeout``) covers the whole call
and every result carries ``elapsed``.  Twin of ``doc_fragments/remediation.py``.
"""

from __future__ import annotations

import time

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import guardrails


def remediation_argument_spec():
    """Wait and guardrail options of every remediation module."""
    spec = guardrails.guardrails_argument_spec()
    spec.update(
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='float', default=300.0),
        wait_sleep=dict(type='float', default=2.0),
        run_id=dict(type='str'),
    )
    return spec


class Remediation:
    def __init__(self, module, clock=time.monotonic):
        self.module = module
        self.clock = clock
        self.started = clock()
        params = module.params
        if params['wait_timeout'] <= 0 or params['wait_sleep'] <= 0:
            self.module.fail_json(msg='wait_timeout=%s wait_sleep=%s is not allowed; both must be > 0 seconds'
                                  % (params['wait_timeout'], params['wait_sleep']))
        self.deadline_at = self.started + params['wait_timeout']

    def elapsed(self):
        return round(self.clock() - self.started, 3)

    def guarded(self, target, action, apply):
        """Run ``apply()`` under the guardrails of ``target``; returns the result's ``guardrails`` dict.

        In check mode ``apply`` is not called.  A ChainopsError from ``apply``
        is recorded as a failed remediation (it may open the circuit breaker)
        and re-raised with the guardrail result attached.
        """
        params = self.module.params
        try:
            if self.module.check_mode:
                return guardrails.plan(params, target, action)[1]['guardrails']
            with guardrails.guard(params, target, action, params['run_id']) as guard:
                try:
                    apply()
                except ChainopsError as exc:
                    failed = guard.failed(exc.msg)['guardrails']
                    if failed['escalate']:
                        exc.msg = failed['msg']
                    exc.details['guardrails'] = failed
                    raise
                return guard.succeeded()['guardrails']
        except guardrails.GuardrailRefused as exc:
            exc.details['elapsed'] = self.elapsed()
            guardrails.exit_refused(self.module, exc)

    def fail(self, exc):
        self.module.fail_json(elapsed=self.elapsed(), **exc.fail_kwargs())

    def exit(self, **result):
        self.module.exit_json(elapsed=self.elapsed(), **result)
