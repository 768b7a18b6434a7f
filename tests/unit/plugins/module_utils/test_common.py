# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_http_url,
    check_int_range,
    check_metric_name,
    check_number,
    fmt_value,
    redact_url,
    url_secrets,
)


def message(func, *args, **kwargs):
    with pytest.raises(ChainopsError) as info:
        func(*args, **kwargs)
    return info.value.msg


def test_chainops_error_fail_kwargs():
    err = ChainopsError('boom', target='node-1')
    assert err.fail_kwargs() == {'msg': 'boom', 'target': 'node-1'}
    assert str(err) == 'boom'


@pytest.mark.parametrize('value, shown', [
    (0.0, '0'), (0, '0'), (2.5, '2.5'), ('x', "'x'"), (True, 'true'), (None, 'null'), (float('inf'), 'inf'),
])
def test_fmt_value(value, shown):
    assert fmt_value(value) == shown


def test_check_number_exclusive_minimum_message():
    assert message(check_number, 'timeout', 0.0, minimum=0, exclusive_minimum=True, unit='seconds') == \
        'timeout=0 is not allowed; timeout must be > 0 seconds'
    assert message(check_number, 'timeout', -1.5, minimum=0, exclusive_minimum=True, unit='seconds') == \
        'timeout=-1.5 is not allowed; timeout must be > 0 seconds'


def test_check_number_rejects_non_finite():
    assert message(check_number, 'deadline', float('nan'), minimum=0, exclusive_minimum=True, unit='seconds') == \
        'deadline=nan is not allowed; deadline must be a finite number of seconds'
    assert 'finite' in message(check_number, 'deadline', float('inf'), minimum=0, exclusive_minimum=True)


def test_check_number_accepts_and_returns():
    assert check_number('timeout', 0.001, minimum=0, exclusive_minimum=True) == 0.001
    assert check_number('retry_backoff', 0, minimum=0, maximum=60) == 0


def test_check_int_range_messages():
    assert message(check_int_range, 'concurrency', 0, minimum=1, maximum=256) == \
        'concurrency=0 is not allowed; concurrency must be between 1 and 256'
    assert message(check_int_range, 'concurrency', 257, minimum=1, maximum=256) == \
        'concurrency=257 is not allowed; concurrency must be between 1 and 256'
    assert message(check_int_range, 'lag_threshold', -1, minimum=0, unit='blocks') == \
        'lag_threshold=-1 is not allowed; lag_threshold must be >= 0 blocks'
    assert message(check_int_range, 'retries', 1.5, minimum=0, maximum=5) == \
        'retries=1.5 is not allowed; retries must be an integer'
    assert check_int_range('retries', 5, minimum=0, maximum=5) == 5


@pytest.mark.parametrize('url', [
    'http://127.0.0.1:8545/', 'https://node.example.org/rpc', 'http://[::1]:9090/metrics', 'HTTP://host',
])
def test_check_http_url_accepts(url):
    assert check_http_url('targets[0].rpc_url', url) == url


@pytest.mark.parametrize('url, expected', [
    ('ftp:/x', "targets[2].rpc_url='ftp:/x' is not an http(s) URL"),
    ('http://', "targets[2].rpc_url='http://' is not an http(s) URL"),
    ('127.0.0.1:8545', "targets[2].rpc_url='127.0.0.1:8545' is not an http(s) URL"),
    ('http://host:99999/', "targets[2].rpc_url='http://host:99999/' is not an http(s) URL ("),
    ('http://ho st/', "targets[2].rpc_url='http://ho st/' is not an http(s) URL (it contains whitespace"),
    ('', "targets[2].rpc_url='' is not an http(s) URL"),
])
def test_check_http_url_rejects(url, expected):
    msg = message(check_http_url, 'targets[2].rpc_url', url)
    assert msg.startswith(expected)
    assert msg.endswith('use http://host[:port]/path or https://host[:port]/path')


def test_check_http_url_redacts_password_in_message():
    msg = message(check_http_url, 'targets[0].rpc_url', 'ftp://alice:s3cret@host/')
    assert 's3cret' not in msg
    assert "'ftp://alice:********@host/'" in msg


def test_redact_url_and_url_secrets():
    assert redact_url('https://alice:s3cret@host:8545/x?y=1') == 'https://alice:********@host:8545/x?y=1'
    assert redact_url('https://host/') == 'https://host/'
    assert url_secrets('https://alice:s3cret@host/') == ['s3cret']
    assert url_secrets('https://alice@host/') == []
    assert url_secrets(None) == []


@pytest.mark.parametrize('name', ['bitcell_chain_height', 'a', '_x', 'ns:metric_total', 'A1:b_2'])
def test_check_metric_name_accepts(name):
    assert check_metric_name('metrics[0]', name) == name


@pytest.mark.parametrize('name', ['bad name!', '1abc', '', 'a-b', 'é'])
def test_check_metric_name_rejects(name):
    msg = message(check_metric_name, 'metrics[0]', name)
    assert msg == "metrics[0]=%r is not a valid Prometheus metric name; names must match [a-zA-Z_:][a-zA-Z0-9_:]*" % name
