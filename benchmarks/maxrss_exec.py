# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command as a child and append its resource usage to a JSON-lines file.

Usage: ``python -S maxrss_exec.py OUT_FILE PROGRAM [ARGS...]``

The child is forked and exec'd directly (no shell) and reaped with
``os.wait4``, whose ``rusage`` covers exactly that child (and any children
it waited for): ``ru_maxrss`` is its peak resident set size in KiB.  One JSON
line is appended to OUT_FILE: ``{"argv", "maxrss_kib", "utime", "stime",
"wall", "exit"}``.  stdin, stdout and stderr are inherited, and the exit
status of the child is passed on, so this can stand in for a Python
interpreter (``ansible_python_interpreter``).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv):
    if len(argv) < 3:
        sys.stderr.write('usage: maxrss_exec.py OUT_FILE PROGRAM [ARGS...]\n')
        return 2
    out_file, command = argv[1], argv[2:]
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(command[0], command)
        finally:
            os._exit(127)  # pylint: disable=protected-access
    status, usage = os.wait4(pid, 0)[1:]
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    record = {
        'argv': command,
        'maxrss_kib': usage.ru_maxrss,
        'utime': round(usage.ru_utime, 3),
        'stime': round(usage.ru_stime, 3),
        'wall': round(wall, 3),
        'exit': code,
    }
    with open(out_file, 'a', encoding='utf-8') as handle:
        handle.write(json.dumps(record) + '\n')
    return code if code >= 0 else 128 - code


if __name__ == '__main__':
    sys.exit(main(sys.argv))
