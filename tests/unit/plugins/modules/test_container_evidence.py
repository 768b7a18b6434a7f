# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""container_evidence in-process: every bad argument fails cleanly, names itself and writes nothing."""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.modules import container_evidence
from helpers.module_main import run_module_main


def run_module(monkeypatch, capsys, args, check_mode=False):
    return run_module_main(container_evidence.main, monkeypatch, capsys, args, check_mode)


@pytest.mark.parametrize('args,expected', [
    ({}, 'one of the following is required: container, compose_service, pod, workload'),
    ({'container': 'n1', 'pod': 'p'}, 'parameters are mutually exclusive: container|compose_service|pod|workload'),
    ({'container': 'n1', 'namespace': 'prod'}, 'parameters are mutually exclusive: container|namespace'),
    ({'compose_service': 's', 'workload': 'sts/x', 'namespace': 'prod'}, 'mutually exclusive'),
    ({'pod': 'p'}, 'missing parameter(s) required by \'pod\': namespace'),
    ({'workload': 'sts/x'}, 'missing parameter(s) required by \'workload\': namespace'),
    ({'container': 'n1', 'compose_project': 'bitcell'}, 'missing parameter(s) required by \'compose_project\''),
    ({'container': 'n1', 'tail_lines': 0}, 'tail_lines=0 is not allowed; tail_lines must be >= 1'),
    ({'container': 'n1', 'label': '../up'}, "label='../up' is not allowed"),
    ({'container': 'n1', 'since': 'yesterday'}, "since='yesterday' is not allowed"),
    ({'container': 'n1', 'config_paths': ['relative.toml']}, "config_paths item 'relative.toml' is not allowed"),
    ({'container': 'n1', 'docker_timeout': 0}, 'docker_timeout=0 is not allowed'),
    ({'container': 'n1', 'docker_host': 'unix:///nonexistent/docker.sock'},
     'docker_host=unix:///nonexistent/docker.sock is not reachable'),
    ({'namespace': 'prod', 'pod': 'p', 'kubeconfig': '/nonexistent/kubeconfig'},
     'kubeconfig=/nonexistent/kubeconfig (context=current) cannot be loaded'),
])
def test_bad_arguments_fail_naming_the_argument(monkeypatch, capsys, tmp_path, args, expected):
    dest = tmp_path / 'incident'
    for check_mode in (False, True):
        result, code = run_module(monkeypatch, capsys, dict(args, dest=str(dest)), check_mode)
        assert code == 1 and result['failed'] is True
        assert expected in result['msg'], result['msg']
    assert not dest.exists()


def test_dest_is_required(monkeypatch, capsys):
    result, code = run_module(monkeypatch, capsys, {'container': 'n1'})
    assert code == 1 and 'missing required arguments: dest' in result['msg']


def test_the_api_key_is_never_echoed(monkeypatch, capsys, tmp_path):
    secret = 'k8s-api-key-that-must-not-leak'
    result, code = run_module(monkeypatch, capsys, {'namespace': 'prod', 'pod': 'p', 'host': 'https://127.0.0.1:1',
                                                    'api_key': secret, 'request_timeout': 2, 'dest': str(tmp_path)})
    assert code == 1 and 'not reachable' in result['msg']
    assert secret not in str(result)
