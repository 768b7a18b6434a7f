# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU and memory quantities: exact parsing, canonical spelling, errors that name the value."""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.quantity import (
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
)


@pytest.mark.parametrize('value, millis', [('500m', 500), ('1.5', 1500), ('2', 2000), (2, 2000), (0.1, 100),
                                           ('2000m', 2000), (' 250m ', 250)])
def test_cpu(value, millis):
    assert parse_cpu('cpu', value) == millis


@pytest.mark.parametrize('value', ['', 'x', '-1', '0', '0m', '0.0001', '1.5m', '2 cpus', True, None, '1e3'])
def test_bad_cpu_names_the_argument_and_the_value(value):
    with pytest.raises(ChainopsError) as info:
        parse_cpu('cpu', value)
    assert info.value.msg.startswith('cpu=')
    assert 'give CPUs as a number (1.5) or whole millicores (500m)' in info.value.msg


@pytest.mark.parametrize('value, size', [('256Mi', 256 * 2 ** 20), ('4Gi', 4 * 2 ** 30), ('1G', 10 ** 9),
                                         ('512M', 512 * 10 ** 6), (str(64 * 2 ** 20), 64 * 2 ** 20),
                                         ('0.5Gi', 2 ** 29)])
def test_memory(value, size):
    assert parse_memory('memory', value) == size


@pytest.mark.parametrize('value', ['256MB', '1Mi', '-4Gi', 'lots', '1.5', '0.1Ki'])
def test_bad_memory(value):
    with pytest.raises(ChainopsError) as info:
        parse_memory('memory', value)
    assert info.value.msg.startswith("memory=%r is not allowed" % value)


def test_canonical_spelling_round_trips():
    assert [format_cpu(m) for m in (1000, 1500, 100, 4000)] == ['1', '1500m', '100m', '4']
    assert [format_memory(b) for b in (2 ** 30, 256 * 2 ** 20, 10 ** 9, 1536 * 2 ** 10)] == \
        ['1Gi', '256Mi', '1000000000', '1536Ki']
    for text in ('1', '1500m', '250m'):
        assert format_cpu(parse_cpu('cpu', text)) == text
