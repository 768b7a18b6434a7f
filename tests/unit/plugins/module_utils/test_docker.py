# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker backend: the numbers `docker stats` shows, and connection errors that name the option."""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import docker as backend
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError


def stats(total, pre_total, system, pre_system, online=2, usage=None, limit=None, inactive=0):
    return {
        'cpu_stats': {'cpu_usage': {'total_usage': total}, 'system_cpu_usage': system, 'online_cpus': online},
        'precpu_stats': {'cpu_usage': {'total_usage': pre_total}, 'system_cpu_usage': pre_system},
        'memory_stats': {} if usage is None else {'usage': usage, 'limit': limit,
                                                  'stats': {'total_inactive_file': inactive}},
    }


def test_cpu_percent_matches_docker_stats_formula():
    # 0.5 s of container CPU over 2 s of a 2-CPU system: half a CPU -> 50 %.
    assert backend._cpu_percent(stats(1_500_000_000, 1_000_000_000, 6_000_000_000, 4_000_000_000)) == 50.0


def test_cpu_percent_without_a_previous_sample_is_zero():
    assert backend._cpu_percent(stats(100, 0, 0, 0)) == 0.0


def test_memory_leaves_page_cache_out():
    used, percent = backend._memory(stats(0, 0, 0, 0, usage=150 << 20, limit=256 << 20, inactive=22 << 20))
    assert used == 128 << 20 and percent == 50.0


def test_memory_unknown_when_not_reported():
    assert backend._memory(stats(0, 0, 0, 0)) == (None, None)


def params(**overrides):
    base = dict(docker_host='unix:///nonexistent/docker.sock', docker_timeout=5, tls_ca_cert=None,
                tls_client_cert=None, tls_client_key=None, validate_certs=True)
    base.update(overrides)
    return base


def test_unreachable_engine_names_the_option():
    with pytest.raises(ChainopsError) as err:
        backend.docker_client(params())
    assert 'docker_host=unix:///nonexistent/docker.sock is not reachable' in err.value.msg
    assert 'DOCKER_HOST' in err.value.msg


def test_bad_timeout_names_the_option():
    with pytest.raises(ChainopsError, match=r'docker_timeout=0 is not allowed'):
        backend.docker_client(params(docker_timeout=0))


def test_client_cert_needs_its_key():
    with pytest.raises(ChainopsError, match='tls_client_cert is set but tls_client_key is not'):
        backend.docker_client(params(tls_client_cert='/etc/cert.pem'))
