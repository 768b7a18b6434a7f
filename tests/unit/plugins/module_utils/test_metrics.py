# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import metrics
from ansible_collections.chainops.runbooks.plugins.module_utils.metrics import (
    MetricsParseError,
    extract_metrics,
    json_number,
    parse_exposition,
    scalar,
)

EXPOSITION = '''# HELP bitcell_chain_height Current chain height
# TYPE bitcell_chain_height gauge
bitcell_chain_height 1234
# TYPE bitcell_peer_count gauge
bitcell_peer_count 0
# HELP bitcell_txs_processed_total Transactions processed
# TYPE bitcell_txs_processed_total counter
bitcell_txs_processed_total 4096
# HELP bitcell_proof_gen_time_seconds Proof generation time
# TYPE bitcell_proof_gen_time_seconds histogram
bitcell_proof_gen_time_seconds_bucket{le="1.0"} 1
bitcell_proof_gen_time_seconds_bucket{le="30.0"} 3
bitcell_proof_gen_time_seconds_bucket{le="+Inf"} 4
bitcell_proof_gen_time_seconds_sum 50.0
bitcell_proof_gen_time_seconds_count 4
# HELP bitcell_node_info Node information
# TYPE bitcell_node_info gauge
bitcell_node_info{node_id="n1",region="us-east",version="0.3.1"} 1
# TYPE bitcell_rpc_requests_total counter
bitcell_rpc_requests_total{method="eth_blockNumber"} 10
bitcell_rpc_requests_total{method="eth_syncing"} 2.5
# TYPE bitcell_weird gauge
bitcell_weird NaN
'''


def test_prometheus_client_is_available_in_the_test_env():
    assert metrics.HAS_PROMETHEUS_CLIENT is True
    assert metrics.PROMETHEUS_CLIENT_IMPORT_ERROR is None


def test_unlabelled_values_are_numbers():
    expo = parse_exposition(EXPOSITION)
    got = extract_metrics(expo, ['bitcell_chain_height', 'bitcell_peer_count', 'bitcell_txs_processed_total'])
    assert got == {'bitcell_chain_height': 1234, 'bitcell_peer_count': 0, 'bitcell_txs_processed_total': 4096}
    assert isinstance(got['bitcell_chain_height'], int)


def test_labelled_metric_is_a_list_of_labels_and_value():
    expo = parse_exposition(EXPOSITION)
    got = extract_metrics(expo, ['bitcell_node_info', 'bitcell_rpc_requests_total'])
    assert got['bitcell_node_info'] == [{'labels': {'node_id': 'n1', 'region': 'us-east', 'version': '0.3.1'}, 'value': 1}]
    assert got['bitcell_rpc_requests_total'] == [
        {'labels': {'method': 'eth_blockNumber'}, 'value': 10},
        {'labels': {'method': 'eth_syncing'}, 'value': 2.5},
    ]


def test_counter_by_family_name_and_histogram_mean():
    expo = parse_exposition(EXPOSITION)
    got = extract_metrics(expo, ['bitcell_txs_processed', 'bitcell_proof_gen_time_seconds',
                                 'bitcell_proof_gen_time_seconds_count', 'bitcell_proof_gen_time_seconds_bucket'])
    assert got['bitcell_txs_processed'] == 4096
    assert got['bitcell_proof_gen_time_seconds'] == 12.5
    assert got['bitcell_proof_gen_time_seconds_count'] == 4
    assert got['bitcell_proof_gen_time_seconds_bucket'][-1] == {'labels': {'le': '+Inf'}, 'value': 4}


def test_missing_and_non_finite_metrics_are_none():
    expo = parse_exposition(EXPOSITION)
    assert extract_metrics(expo, ['bitcell_absent', 'bitcell_weird']) == {'bitcell_absent': None, 'bitcell_weird': None}


def test_scalar_helper():
    expo = parse_exposition(EXPOSITION)
    assert scalar(expo, 'bitcell_chain_height') == 1234
    assert scalar(expo, 'bitcell_absent') is None


def test_json_number():
    assert json_number(3.0) == 3 and isinstance(json_number(3.0), int)
    assert json_number(2.5) == 2.5
    assert json_number(float('inf')) is None
    assert json_number(None) is None
    assert isinstance(json_number(1e300), float)


@pytest.mark.parametrize('text', [
    'bitcell_chain_height{region="us-east" 12\n',
    'bitcell_chain_height twelve\n',
])
def test_malformed_exposition_raises_parse_error(text):
    with pytest.raises(MetricsParseError) as info:
        parse_exposition(text)
    assert info.value.msg.startswith('invalid Prometheus exposition (')


def test_missing_library_is_reported(monkeypatch):
    monkeypatch.setattr(metrics, 'HAS_PROMETHEUS_CLIENT', False)
    with pytest.raises(metrics.ChainopsError) as info:
        parse_exposition('x 1\n')
    assert 'prometheus-client' in info.value.msg
