# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""CPU and memory quantities as Kubernetes writes them (private API).

The same strings work for docker and Kubernetes targets: ``cpu: 500m`` or
``1.5``, ``memory: 256Mi`` or ``1G``.  Parsing is exact (integer millicores and
bytes), so a desired value compares equal to what the runtime reports.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, fmt_value

_QUANTITY_RE = re.compile(r'^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)([a-zA-Z]*)$')
_BINARY = {'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60}
_DECIMAL = {'': 1, 'k': 10 ** 3, 'M': 10 ** 6, 'G': 10 ** 9, 'T': 10 ** 12, 'P': 10 ** 15, 'E': 10 ** 18}


_CPU_UNITS = {'': 1000, 'm': 1}
_CPU_HINT = 'give CPUs as a number (1.5) or whole millicores (500m), greater than 0'
_MEMORY_UNITS = dict(_BINARY, **_DECIMAL)
_MEMORY_HINT = 'give whole bytes with an optional suffix (256Mi, 1Gi, 512M), at least 6Mi'
# Docker refuses memory limits below 6 MiB; the same floor keeps both runtimes in step.
MIN_MEMORY_BYTES = 6 * 2 ** 20


def _parse(name, value, units, hint):
    """The quantity in base units (Decimal), or ChainopsError naming the argument and the value."""
    text = value.strip() if isinstance(value, str) else (
        str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else '')
    match = _QUANTITY_RE.match(text)
    if not match or match.group(2) not in units:
        raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), hint))
    return Decimal(match.group(1)) * units[match.group(2)]


def parse_cpu(name, value):
    """Millicores (int) of a CPU quantity: ``'500m'`` -> 500, ``'1.5'`` -> 1500."""
    millis = _parse(name, value, _CPU_UNITS, _CPU_HINT)
    if millis <= 0 or millis != millis.to_integral_value():
        raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), _CPU_HINT))
    return int(millis)


def parse_memory(name, value):
    """Bytes (int) of a memory quantity: ``'256Mi'`` -> 268435456."""
    size = _parse(name, value, _MEMORY_UNITS, _MEMORY_HINT)
    if size != size.to_integral_value() or size < MIN_MEMORY_BYTES:
        raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), _MEMORY_HINT))
    return int(size)


def format_cpu(millis):
    """The canonical Kubernetes spelling: ``1000`` -> ``'1'``, ``500`` -> ``'500m'``."""
    return str(millis // 1000) if millis % 1000 == 0 else '%dm' % millis


def format_memory(size):
    """The largest binary suffix that divides exactly: ``268435456`` -> ``'256Mi'``."""
    for suffix in ('Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'):
        if size % _BINARY[suffix] == 0:
            return '%d%s' % (size // _BINARY[suffix], suffix)
    return str(size)
