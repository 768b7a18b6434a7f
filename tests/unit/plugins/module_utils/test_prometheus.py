# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Prometheus HTTP API client, against ``fake_prometheus``.

``fake_prometheus`` is a stand-in, not Prometheus: a small local HTTP server
that answers in the shape of the Prometheus HTTP API (see conftest.py).  The
same client is exercised against the real Prometheus of the lab in
tests/integration/test_prometheus_query_lab.py.
"""

from __future__ import annotations

import base64
import time

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    check_base_url,
    check_query_params,
    convert_result,
    parse_duration,
    parse_time,
)

NOW = 1700000000.0


def error_of(func, *args, **kwargs):
    with pytest.raises(ChainopsError) as info:
        func(*args, **kwargs)
    return info.value.msg


# --- option values ------------------------------------------------------------------

@pytest.mark.parametrize('value, seconds', [
    (15, 15.0), (0.5, 0.5), ('30', 30.0), ('15s', 15.0), ('1m', 60.0), ('1h30m', 5400.0), ('250ms', 0.25),
    ('1d', 86400.0), ('2w', 1209600.0),
])
def test_parse_duration(value, seconds):
    assert parse_duration('step', value) == seconds


@pytest.mark.parametrize('value, msg', [
    (0, 'step=0 is not allowed; step must be > 0 seconds'),
    ('-5', "step='-5' is not allowed; step must be > 0 seconds"),
    ('0s', "step='0s' is not allowed; step must be > 0 seconds"),
    ('fast', "step='fast' is not allowed; step must be a number of seconds or a duration such as 15s, 1m or 1h30m"),
    ('', "step='' is not allowed; step must be a number"),
    (None, 'step=null is not allowed'),
])
def test_parse_duration_errors(value, msg):
    assert error_of(parse_duration, 'step', value).startswith(msg)


@pytest.mark.parametrize('value, expected', [
    (1700000000, 1700000000.0), ('1700000000.5', 1700000000.5), ('now', NOW), ('now-10m', NOW - 600),
    ('now + 1h', NOW + 3600), ('2023-11-14T22:13:20Z', 1700000000.0), ('2023-11-14T23:13:20+01:00', 1700000000.0),
])
def test_parse_time(value, expected):
    assert parse_time('start', value, now=NOW) == expected


@pytest.mark.parametrize('value, msg', [
    ('yesterday', "start='yesterday' is not allowed; start must be unix seconds"),
    ('now-xyz', "start='now-xyz' is not allowed; start must be unix seconds"),
    ('2023-11-14T22:13:20', "start='2023-11-14T22:13:20' has no time zone; add Z or an offset"),
    (float('nan'), 'start=nan is not allowed'),
    ([1], 'start=[1] is not allowed'),
])
def test_parse_time_errors(value, msg):
    assert error_of(parse_time, 'start', value, now=NOW).startswith(msg)


@pytest.mark.parametrize('url, msg', [
    ('prometheus:9090', "url='prometheus:9090' is not an http(s) URL"),
    ('ftp://prom/', "url='ftp://prom/' is not an http(s) URL"),
    ('http://', "url='http://' is not an http(s) URL"),
    ('http://prom:9090/?x=1', "url='http://prom:9090/?x=1' is not allowed; give the Prometheus base URL without ?query"),
    ('http://alice:pw@prom:9090/#f', "url='http://alice:********@prom:9090/#f' is not allowed"),
])
def test_check_base_url(url, msg):
    assert error_of(check_base_url, 'url', url).startswith(msg)


def test_check_base_url_strips_the_trailing_slash():
    assert check_base_url('url', 'https://ops.example.com/prometheus/') == 'https://ops.example.com/prometheus'


def params(**kwargs):
    values = {'query': 'up', 'type': 'instant', 'time': None, 'start': None, 'end': None, 'step': None}
    values.update(kwargs)
    return values


def test_query_params_instant_and_range():
    assert check_query_params(params(), now=NOW) == {'time': None}
    assert check_query_params(params(time='now-1m'), now=NOW) == {'time': NOW - 60}
    assert check_query_params(params(type='range', start='now-10m', step='1m'), now=NOW) == {
        'start': NOW - 600, 'end': NOW, 'step': 60.0}


@pytest.mark.parametrize('override, msg', [
    ({'query': '  '}, "query='  ' is not allowed; give a PromQL expression"),
    ({'step': '1m'}, "step='1m' is only used with type=range; remove it or set type=range"),
    ({'start': 'now-1h'}, "start='now-1h' is only used with type=range"),
    ({'type': 'range', 'start': 'now-1h', 'step': '1m', 'time': 'now'}, "time='now' is only used with type=instant"),
    ({'type': 'range', 'step': '1m'}, 'start is required with type=range'),
    ({'type': 'range', 'start': 'now', 'end': 'now-1h', 'step': '1m'},
     "start='now' is not allowed with end='now-1h'; start must be before end"),
    ({'type': 'range', 'start': 'now', 'step': '1m'}, "start='now' is not allowed with end='now'; start must be before end"),
    ({'type': 'range', 'start': 'now-1h', 'step': 0}, 'step=0 is not allowed; step must be > 0 seconds'),
    ({'type': 'range', 'start': 'now-1d', 'step': '1s'},
     "step='1s' is not allowed for 86400 seconds from start to end; that is 86400 points and Prometheus allows at most "
     '11000 per series: use step >= 8 seconds'),
])
def test_query_params_errors(override, msg):
    assert error_of(check_query_params, params(**override), now=NOW).startswith(msg)


# --- result conversion ----------------------------------------------------------------

def test_convert_result_shapes():
    vector = convert_result('vector', [{'metric': {'instance': 'a'}, 'value': [NOW, '1']},
                                       {'metric': {'instance': 'b'}, 'value': [NOW, 'NaN']},
                                       {'metric': {}, 'value': [NOW, '+Inf']}])
    assert vector == [{'metric': {'instance': 'a'}, 'timestamp': NOW, 'value': 1.0},
                      {'metric': {'instance': 'b'}, 'timestamp': NOW, 'value': None},
                      {'metric': {}, 'timestamp': NOW, 'value': None}]
    assert isinstance(vector[0]['value'], float)
    matrix = convert_result('matrix', [{'metric': {'job': 'j'}, 'values': [[NOW, '2.5'], [NOW + 15, '3']]}])
    assert matrix == [{'metric': {'job': 'j'}, 'values': [[NOW, 2.5], [NOW + 15, 3.0]]}]
    assert convert_result('scalar', [NOW, '42']) == {'timestamp': NOW, 'value': 42.0}
    assert convert_result('string', [NOW, 'hello']) == {'timestamp': NOW, 'value': 'hello'}
    histogram = convert_result('vector', [{'metric': {}, 'histogram': [NOW, {'count': '3', 'sum': '1'}]}])
    assert histogram == [{'metric': {}, 'timestamp': NOW, 'value': None, 'histogram': {'count': '3', 'sum': '1'}}]


# --- the client against the stand-in -----------------------------------------------------

def test_instant_query_returns_a_vector(fake_prometheus):
    fake_prometheus.series = [({'job': 'bitcell-nodes', 'instance': 'n1'}, 1), ({'job': 'bitcell-nodes', 'instance': 'n2'}, 0)]
    client = PrometheusClient(fake_prometheus.url + '/')
    result_type, result, warnings = client.query('up{instance="n2"}', at=NOW)
    assert result_type == 'vector' and warnings == []
    assert result == [{'metric': {'job': 'bitcell-nodes', 'instance': 'n2', '__name__': 'up'}, 'timestamp': NOW, 'value': 0.0}]
    path, sent, headers = fake_prometheus.requests[-1]
    assert path == '/api/v1/query' and sent == {'query': 'up{instance="n2"}', 'time': '1700000000'}
    assert 'Authorization' not in headers


def test_range_query_returns_a_matrix(fake_prometheus):
    fake_prometheus.series = [({'instance': 'n1'}, 7)]
    fake_prometheus.warnings = ['some series were dropped']
    result_type, result, warnings = PrometheusClient(fake_prometheus.url).query_range('up', NOW - 60, NOW, 30)
    assert result_type == 'matrix' and warnings == ['some series were dropped']
    assert result[0]['values'] == [[NOW - 60, 7.0], [NOW - 30, 7.0], [NOW, 7.0]]
    assert fake_prometheus.requests[-1][1] == {'query': 'up', 'start': '1699999940', 'end': '1700000000', 'step': '30'}


def test_unknown_metric_is_an_empty_vector(fake_prometheus):
    assert PrometheusClient(fake_prometheus.url).query('no_such_metric') == ('vector', [], [])


def test_malformed_query_shows_prometheus_error_and_the_query(fake_prometheus):
    msg = error_of(PrometheusClient(fake_prometheus.url).query, 'up{')
    assert msg.startswith("Prometheus rejected query='up{' (bad_data): 1:3: parse error")


def test_execution_error_is_named(fake_prometheus):
    fake_prometheus.canned['slow_query'] = (503, {'status': 'error', 'errorType': 'timeout', 'error': 'query timed out'})
    msg = error_of(PrometheusClient(fake_prometheus.url, retries=0).query, 'slow_query')
    assert msg == "Prometheus could not run query='slow_query' (timeout): query timed out"


def test_unreachable_prometheus(refused_url):
    started = time.monotonic()
    with pytest.raises(PrometheusError) as info:
        PrometheusClient(refused_url, retries=1, retry_backoff=0.01).query('up')
    assert info.value.msg.startswith('url=%s is unreachable: connection refused; tried 2 times' % refused_url)
    assert time.monotonic() - started < 2


def test_unreachable_message_hides_the_password(refused_url):
    url = refused_url.replace('http://', 'http://alice:Sup3rSecret@')
    msg = error_of(PrometheusClient(url).query, 'up')
    assert 'Sup3rSecret' not in msg and 'alice:********@' in msg


def test_not_a_prometheus(fake_node):
    node = fake_node('n')
    msg = error_of(PrometheusClient(node.base).query, 'up')
    assert msg == ('url=%s did not answer like the Prometheus HTTP API (HTTP 404 Not Found for /api/v1/query); url must '
                   'be the Prometheus base URL, such as http://prometheus:9090' % node.base)


def test_retry_after_503_then_success(fake_prometheus):
    fake_prometheus.fail_first = 1
    fake_prometheus.series = [({'instance': 'n1'}, 1)]
    result_type, result, dummy = PrometheusClient(fake_prometheus.url, retries=1, retry_backoff=0.01).query('up')
    assert result_type == 'vector' and result[0]['value'] == 1.0
    assert len(fake_prometheus.requests) == 2


def test_basic_and_bearer_auth_headers(fake_prometheus):
    PrometheusClient(fake_prometheus.url, username='ops', password='pw').query('up')
    assert fake_prometheus.requests[-1][2]['Authorization'] == 'Basic ' + base64.b64encode(b'ops:pw').decode()
    PrometheusClient(fake_prometheus.url, token='t0ken').query('up')
    assert fake_prometheus.requests[-1][2]['Authorization'] == 'Bearer t0ken'


def test_401_names_the_credentials(fake_prometheus):
    fake_prometheus.canned['up'] = (401, {'status': 'error', 'errorType': 'unauthorized', 'error': 'bad token'})
    msg = error_of(PrometheusClient(fake_prometheus.url, token='x').query, 'up')
    assert msg == 'url=%s refused the request (unauthorized: bad token); check username/password or token' % fake_prometheus.url


def test_deadline_bounds_the_call(refused_url):
    started = time.monotonic()
    client = PrometheusClient(refused_url, retries=5, retry_backoff=10, deadline_at=started + 0.5)
    msg = error_of(client.query, 'up')
    assert msg == ('url=%s is unreachable: connection refused; check that Prometheus runs there and that url is its '
                   'base URL' % refused_url)
    assert time.monotonic() - started < 0.5  # no 10 s backoff past the deadline
