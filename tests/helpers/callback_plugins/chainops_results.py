# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: every task result of a run as JSON lines, for tests/helpers/ansible_run.py."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: chainops_results
type: aggregate
short_description: Write each task's per-host result as a JSON line (tests only)
description:
  - Appends one JSON object per task and host to the file named by E(CHAINOPS_RESULTS_PATH), with the result exactly
    as other callbacks receive it (after C(no_log) censoring).
options: {}
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'chainops_results'
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        path = os.environ.get('CHAINOPS_RESULTS_PATH')
        if not path:
            return
        outcome = dict(result._result)
        if status in ('failed', 'skipped'):
            # ansible-core 2.19 keeps the verdict out of _result; tests read it from the result as a playbook would.
            outcome[status] = True
        entry = {'host': result._host.get_name(), 'task': result._task.get_name(), 'status': status,
                 'result': outcome}
        with open(path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(entry, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')
