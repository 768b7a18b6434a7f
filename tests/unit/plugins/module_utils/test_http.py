# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import time

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils.http import (
    ProbeError,
    http_get,
    jsonrpc_call,
)


def test_get_returns_any_status_as_data(fake_node):
    node = fake_node('n1')
    resp = http_get(node.health_url, timeout=2)
    assert resp.status == 200 and resp.ok
    assert resp.json() == {'status': 'ok', 'height': 100, 'peers': 3}
    assert resp.latency_ms >= 0
    node.health_status, node.health_reason = 503, 'no peers'
    resp = http_get(node.health_url, timeout=2)
    assert resp.status == 503 and not resp.ok
    assert resp.json() == {'status': 'unhealthy', 'reason': 'no peers'}


def test_refused_is_a_retryable_probe_error(refused_url):
    with pytest.raises(ProbeError) as info:
        http_get(refused_url + '/health', timeout=1)
    assert info.value.msg == 'connection refused'
    assert info.value.retryable and not info.value.responded


def test_hanging_server_times_out(fake_node):
    node = fake_node('slow')
    node.hang_seconds = 5
    started = time.monotonic()
    with pytest.raises(ProbeError) as info:
        http_get(node.health_url, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert info.value.msg == 'timed out after 0.2s'
    assert info.value.retryable


def test_timeout_is_clipped_to_the_deadline(fake_node):
    node = fake_node('slow')
    node.hang_seconds = 5
    started = time.monotonic()
    with pytest.raises(ProbeError) as info:
        http_get(node.health_url, timeout=3, deadline_at=time.monotonic() + 0.2)
    assert time.monotonic() - started < 1.5
    assert info.value.msg == 'deadline exceeded'
    assert not info.value.retryable


def test_past_deadline_sends_nothing(fake_node):
    node = fake_node('n1')
    with pytest.raises(ProbeError) as info:
        http_get(node.health_url, timeout=3, deadline_at=time.monotonic() - 1)
    assert info.value.msg == 'deadline exceeded'
    assert node.count() == 0


def test_body_size_limit(fake_node):
    node = fake_node('big')
    node.metrics_text = 'x 1\n' * 1000
    with pytest.raises(ProbeError) as info:
        http_get(node.metrics_url, timeout=2, max_bytes=100)
    assert info.value.msg == 'response body larger than 100 bytes'
    assert info.value.responded


def test_jsonrpc_results_and_errors(fake_node):
    node = fake_node('n1', height=0x1a2b)
    assert jsonrpc_call(node.rpc_url, 'eth_blockNumber', timeout=2)[0] == '0x1a2b'
    assert jsonrpc_call(node.rpc_url, 'eth_syncing', timeout=2)[0] is False
    with pytest.raises(ProbeError) as info:
        jsonrpc_call(node.rpc_url, 'eth_nope', timeout=2)
    assert info.value.msg == 'JSON-RPC error -32601: Method not found'
    assert info.value.responded and not info.value.retryable


def test_jsonrpc_http_error_is_retryable(fake_node):
    node = fake_node('n1')
    node.fail_first = 1
    with pytest.raises(ProbeError) as info:
        jsonrpc_call(node.rpc_url, 'eth_blockNumber', timeout=2)
    assert info.value.msg.startswith('HTTP 503')
    assert info.value.retryable and info.value.responded and info.value.status == 503


def test_jsonrpc_non_json_body(fake_node):
    node = fake_node('n1')
    node.rpc_raw = (200, '<html>proxy login</html>')
    with pytest.raises(ProbeError) as info:
        jsonrpc_call(node.rpc_url, 'eth_blockNumber', timeout=2)
    assert info.value.msg == 'invalid JSON-RPC response (body is not JSON)'
    assert info.value.responded and not info.value.retryable
    node.rpc_raw = (200, '{"jsonrpc": "2.0", "id": 1}')
    with pytest.raises(ProbeError) as info:
        jsonrpc_call(node.rpc_url, 'eth_blockNumber', timeout=2)
    assert info.value.msg == 'invalid JSON-RPC response (no result)'


def test_errors_never_contain_the_url(refused_url):
    url = refused_url.replace('http://', 'http://alice:s3cret@') + '/rpc?apikey=topsecret'
    with pytest.raises(ProbeError) as info:
        jsonrpc_call(url, 'eth_blockNumber', timeout=1)
    assert 's3cret' not in info.value.msg and 'topsecret' not in info.value.msg
