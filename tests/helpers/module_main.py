# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` in-process, as Ansible would, and read its JSON result."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic


def run_module_main(main, monkeypatch, capsys, args, check_mode=False, diff=False):
    """Return (result dict, exit code) of ``main()`` called with ``args``."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': module_args}).encode('utf-8'))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy')
    with pytest.raises(SystemExit) as info:
        main()
    return json.loads(capsys.readouterr().out), info.value.code
