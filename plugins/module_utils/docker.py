# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Docker Engine backend (private API): one client, options resolved once.

Each connection option resolves as option -> environment variable -> default,
and errors name the option to change. Twin of ``doc_fragments/docker.py``.
"""

from __future__ import annotations

import traceback

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import env_fallback

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError

try:
    import docker
    import docker.errors
    import docker.tls
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
COMPOSE_SERVICE = 'com.docker.compose.service'
COMPOSE_PROJECT = 'com.docker.compose.project'


def docker_argument_spec():
    """Connection options shared by every module that talks to dockerd."""
    return dict(
        docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST, fallback=(env_fallback, ['DOCKER_HOST'])),
        docker_timeout=dict(type='int', default=60, fallback=(env_fallback, ['DOCKER_TIMEOUT'])),
        tls_ca_cert=dict(type='path', fallback=(env_fallback, ['DOCKER_CERT_PATH_CA'])),
        tls_client_cert=dict(type='path', fallback=(env_fallback, ['DOCKER_CERT_PATH_CERT'])),
        tls_client_key=dict(type='path', no_log=False, fallback=(env_fallback, ['DOCKER_CERT_PATH_KEY'])),
        validate_certs=dict(type='bool', default=True),
    )


def docker_client(params):
    """A DockerClient for the module's connection options, or ChainopsError naming the option."""
    if params['docker_timeout'] <= 0:
        raise ChainopsError('docker_timeout=%d is not allowed; docker_timeout must be > 0 seconds'
                            % params['docker_timeout'])
    tls = None
    if params['tls_client_cert'] or params['tls_ca_cert']:
        client_cert = None
        if params['tls_client_cert']:
            if not params['tls_client_key']:
                raise ChainopsError('tls_client_cert is set but tls_client_key is not; give both or neither')
            client_cert = (params['tls_client_cert'], params['tls_client_key'])
        tls = docker.tls.TLSConfig(client_cert=client_cert, ca_cert=params['tls_ca_cert'],
                                   verify=params['validate_certs'])
    try:
        client = docker.DockerClient(base_url=params['docker_host'], timeout=params['docker_timeout'], tls=tls)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ChainopsError('docker_host=%s is not reachable: %s; set docker_host (or DOCKER_HOST) to a running '
                            'Docker Engine' % (params['docker_host'], exc))
    return client


def _cpu_percent(stats):
    """CPU use as `docker stats` computes it: share of one CPU times the number of CPUs."""
    cpu, pre = stats.get('cpu_stats') or {}, stats.get('precpu_stats') or {}
    cpu_delta = cpu.get('cpu_usage', {}).get('total_usage', 0) - pre.get('cpu_usage', {}).get('total_usage', 0)
    system_delta = cpu.get('system_cpu_usage', 0) - pre.get('system_cpu_usage', 0)
    online = cpu.get('online_cpus') or len(cpu.get('cpu_usage', {}).get('percpu_usage') or []) or 1
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return round(cpu_delta / system_delta * online * 100.0, 2)


def _memory(stats):
    memory = stats.get('memory_stats') or {}
    usage = memory.get('usage')
    if usage is None:
        return None, None
    # Page cache is reclaimable; `docker stats` leaves it out as well.
    cache = (memory.get('stats') or {}).get('total_inactive_file', (memory.get('stats') or {}).get('cache', 0))
    used = max(0, usage - cache)
    limit = memory.get('limit') or 0
    return used, (round(used / limit * 100.0, 2) if limit else None)


def describe_container(container, with_stats):
    """What an operator reads from `docker ps`, `docker inspect` and `docker stats --no-stream`."""
    attrs = container.attrs
    state, host = attrs.get('State') or {}, attrs.get('HostConfig') or {}
    labels = (attrs.get('Config') or {}).get('Labels') or {}
    info = dict(
        exists=True,
        status=state.get('Status'),
        running=bool(state.get('Running')),
        restarting=bool(state.get('Restarting')),
        exit_code=state.get('ExitCode'),
        oom_killed=bool(state.get('OOMKilled')),
        restart_count=attrs.get('RestartCount', 0),
        started_at=state.get('StartedAt'),
        image=(attrs.get('Config') or {}).get('Image'),
        compose_service=labels.get('com.docker.compose.service'),
        cpu_limit=(host.get('NanoCpus') or 0) / 1e9 or None,
        memory_limit_bytes=host.get('Memory') or None,
        cpu_percent=None,
        memory_usage_bytes=None,
        memory_percent=None,
    )
    if with_stats and info['running']:
        stats = container.stats(stream=False)
        info['cpu_percent'] = _cpu_percent(stats)
        info['memory_usage_bytes'], info['memory_percent'] = _memory(stats)
    return info


def describe_containers(client, names, with_stats, concurrency=8):
    """describe_container for every name, concurrently (`docker stats` samples for about a second)."""
    def one(name):
        try:
            return name, describe_container(client.containers.get(name), with_stats)
        except docker.errors.NotFound:
            return name, dict(exists=False, status='missing', running=False)
        except docker.errors.APIError as exc:
            return name, dict(exists=None, status='error', running=False, error=str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(names)))) as pool:
        return dict(pool.map(one, names))


def update_limits(client, container_id, nano_cpus=None, memory_bytes=None):
    """``docker update --cpus/--memory`` on a container (memory swap pinned to the memory limit).

    The SDK's ``update_container`` has no NanoCpus, the field ``docker update
    --cpus`` sets, so this posts the same request through the SDK's transport.
    """
    data = {}
    if nano_cpus is not None:
        data['NanoCpus'] = nano_cpus
    if memory_bytes is not None:
        # Without MemorySwap the kernel lets the container swap past its limit.
        data.update(Memory=memory_bytes, MemorySwap=memory_bytes)
    api = client.api
    return api._result(api._post_json(api._url('/containers/{0}/update', container_id), data=data), True)


def find_container(client, params):
    """The container named by ``container``, or the one of ``compose_service`` (+ ``compose_project``).

    ChainopsError naming the option, the value and the way out when it is missing or ambiguous.
    """
    if params.get('container'):
        try:
            return client.containers.get(params['container'])
        except docker.errors.NotFound:
            raise ChainopsError('container=%s does not exist on docker_host=%s; pick an existing container'
                                % (params['container'], params['docker_host']))
    labels = ['%s=%s' % (COMPOSE_SERVICE, params['compose_service'])]
    named = 'compose_service=%s' % params['compose_service']
    if params.get('compose_project'):
        labels.append('%s=%s' % (COMPOSE_PROJECT, params['compose_project']))
        named += ' compose_project=%s' % params['compose_project']
    found = client.containers.list(all=True, filters={'label': labels})
    if len(found) != 1:
        way_out = 'name one with container or compose_project' if found else 'pick an existing compose service'
        raise ChainopsError('%s matches %d containers (%s) on docker_host=%s; it must match exactly one, %s' % (
            named, len(found), ', '.join(sorted(c.name for c in found)) or 'none', params['docker_host'], way_out))
    return found[0]
