# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: write task results and timings to a JSON file.

Not part of the collection's plugins; ``benchmarks/bench_probe.py`` enables it
with ``ANSIBLE_CALLBACK_PLUGINS`` and ``ANSIBLE_CALLBACKS_ENABLED``.
"""

from __future__ import annotations

DOCUMENTATION = r'''
name: bench_capture
type: aggregate
short_description: Write task results and timings of a benchmark run to a JSON file
description:
  - Used by benchmarks/bench_probe.py only.
  - Writes to the file named by the environment variable E(BENCH_CAPTURE_FILE) when the playbook ends.
options: {}
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase

# Result keys kept per task result: enough to verify a probe, small enough for 5000 results.
KEPT_KEYS = ('status', 'json', 'content', 'msg', 'elapsed', 'fleet', 'targets', 'failed', 'unreachable')


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_capture'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get('BENCH_CAPTURE_FILE')
        self._started = time.time()
        self._tasks = []
        self._results = []

    def _task_entry(self, name):
        for entry in reversed(self._tasks):
            if entry['name'] == name:
                return entry
        entry = {'name': name, 'start': None, 'end': None}
        self._tasks.append(entry)
        return entry

    def _record(self, outcome, result):
        now = time.time()
        name = result.task.get_name()
        data = result.result
        self._results.append({
            'task': name,
            'host': result.host.get_name(),
            'outcome': outcome,
            'result': {key: data[key] for key in KEPT_KEYS if key in data},
        })
        entry = self._task_entry(name)
        entry['end'] = now

    def v2_playbook_on_start(self, playbook):
        self._started = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        entry = {'name': task.get_name(), 'start': time.time(), 'end': None}
        self._tasks.append(entry)

    def v2_runner_on_ok(self, result):
        self._record('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record('failed', result)

    def v2_runner_on_unreachable(self, result):
        self._record('unreachable', result)

    def v2_runner_on_skipped(self, result):
        self._record('skipped', result)

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        doc = {
            'playbook_start': self._started,
            'playbook_end': time.time(),
            'tasks': self._tasks,
            'results': self._results,
        }
        tmp_path = self._path + '.tmp'
        with open(tmp_path, 'w', encoding='utf-8') as handle:
            json.dump(doc, handle, default=str)
        os.replace(tmp_path, self._path)
