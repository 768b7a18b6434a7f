# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to the remediation modules fails before any backend is contacted.

The connection options point at addresses where nothing listens (a docker socket
path that does not exist, a Kubernetes host on a closed loopback port), so a
module that tried to act would fail with a connection error instead of the
argument error these tests expect.
"""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.modules import (
    configmap_flag,
    k8s_workload,
    node_resources,
    node_restart,
)
from helpers.module_main import run_module_main

NOWHERE_DOCKER = {'docker_host': 'unix:///nonexistent/docker.sock'}


@pytest.fixture
def nowhere_kube(refused_url):
    return {'host': refused_url, 'kubeconfig': None}


def fail(monkeypatch, capsys, module, args):
    result, code = run_module_main(module.main, monkeypatch, capsys, args)
    assert code == 1 and result['failed'] is True
    return result['msg']


@pytest.mark.parametrize('args, message', [
    ({'container': 'a', 'pod': 'b', 'namespace': 'n'}, 'parameters are mutually exclusive: container|compose_service|'
                                                       'pod|workload'),
    ({}, 'one of the following is required: container, compose_service, pod, workload'),
    ({'pod': 'b', 'wait_for': 'healthy'}, "missing parameter(s) required by 'pod': namespace"),
    ({'container': 'a', 'health_url': 'ftp://x', 'rpc_url': 'http://127.0.0.1:1'}, "health_url='ftp://x' is not an http(s) URL"),
    ({'container': 'a', 'wait_for': 'progressing'}, 'wait_for is progressing but all of the following are missing: '
                                                    'rpc_url'),
    ({'container': 'a', 'wait_timeout': 0, 'wait_for': 'healthy'}, 'wait_timeout=0.0 wait_sleep=2.0 is not allowed'),
    ({'container': 'a', 'condition': 'sometimes', 'wait_for': 'healthy'}, 'value of condition must be one of'),
])
def test_node_restart_bad_input(monkeypatch, capsys, args, message):
    assert message in fail(monkeypatch, capsys, node_restart, dict(NOWHERE_DOCKER, **args))


@pytest.mark.parametrize('args, message', [
    ({'container': 'a'}, 'one of the following is required: cpu, memory'),
    ({'container': 'a', 'cpu': '1.5m'}, "cpu='1.5m' is not allowed; give CPUs as a number (1.5) or whole millicores"),
    ({'container': 'a', 'memory': '12 GB'}, "memory='12 GB' is not allowed"),
    ({'container': 'a', 'workload': 'deployment/x', 'namespace': 'n', 'cpu': '1'}, 'mutually exclusive'),
])
def test_node_resources_bad_input(monkeypatch, capsys, args, message):
    assert message in fail(monkeypatch, capsys, node_resources, dict(NOWHERE_DOCKER, **args))


@pytest.mark.parametrize('args, message', [
    ({'action': 'scale', 'replicas': -1}, 'replicas=-1 is not allowed; replicas must be >= 0'),
    ({'action': 'scale'}, 'action=scale needs replicas; give replicas'),
    ({'action': 'set_env', 'env': {'A': 1}}, "env={'A': 1} is not allowed; give a non-empty mapping of names to "
                                             "strings"),
    ({'action': 'undo', 'to_revision': -2}, 'to_revision=-2 is not allowed'),
    ({'action': 'restart', 'workload': 'daemonset/x'}, "workload='daemonset/x' is not allowed; give <kind>/<name> "
                                                       "with kind deployment (deploy) or statefulset (sts)"),
    ({'action': 'delete_pods', 'grace_period': -1}, 'grace_period=-1 is not allowed'),
    ({'action': 'maintenance'}, 'action=maintenance needs maintenance'),
])
def test_k8s_workload_bad_input(monkeypatch, capsys, nowhere_kube, args, message):
    base = dict(nowhere_kube, namespace='default', workload='deployment/blockchain-backend')
    assert message in fail(monkeypatch, capsys, k8s_workload, dict(base, **args))


@pytest.mark.parametrize('args, message', [
    ({'set': {'A': True}}, 'every value must be a string (quote numbers and booleans): A'),
    ({'set': {'A': 'x'}, 'unset': ['A']}, "unset=['A'] is not allowed; A is also in set"),
    ({}, 'give at least one key to set or unset'),
    ({'set': {'A': 'x'}, 'restart': ['blockchain-backend']}, "restart='blockchain-backend' is not allowed"),
])
def test_configmap_flag_bad_input(monkeypatch, capsys, nowhere_kube, args, message):
    base = dict(nowhere_kube, namespace='default', configmap='app-config')
    assert message in fail(monkeypatch, capsys, configmap_flag, dict(base, **args))


def test_an_unreachable_kubernetes_api_names_what_to_check(monkeypatch, capsys, nowhere_kube):
    message = fail(monkeypatch, capsys, k8s_workload, dict(nowhere_kube, namespace='default', action='restart',
                                                           workload='deployment/blockchain-backend'))
    assert message.startswith('namespace=default deployment/blockchain-backend: the Kubernetes API is not reachable')
