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


# --- environment of a container: plan (pure) and recreate (``docker-compose up -d`` after an edit) ---

SECRET_ENV_WORDS = ('TOKEN', 'KEY', 'PASSWORD', 'PASSWD', 'SECRET', 'DSN', 'CREDENTIAL', 'AUTH', 'PRIVATE', 'CERT')
REDACTED = '********'
REPLACED_SUFFIX = '-chainops-replaced'


def secret_env_name(name):
    """True when an environment variable's name says its value is a secret (API_TOKEN, DB_DSN, ...)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_ENV_WORDS)


def redact_env(env):
    """A copy of ``{name: value}`` with the values of secret-looking names replaced (None stays None)."""
    return dict((k, REDACTED if v is not None and secret_env_name(k) else v) for k, v in env.items())


def env_pairs(env_list):
    """``["K=V", ...]`` (docker's Config.Env) as an ordered list of (name, value)."""
    pairs = []
    for item in env_list or []:
        name, sep, value = item.partition('=')
        pairs.append((name, value if sep else None))
    return pairs


def plan_container_env(env_list, wanted):
    """The Config.Env docker should have for ``wanted`` ({name: str to set, None to unset}).

    Returns ``(new_env_list, before, after)``: ``before``/``after`` hold only the
    names in ``wanted`` (None when unset) and are equal when nothing changes.
    Order is kept: a changed variable stays where it was, a new one goes last.
    """
    pairs = env_pairs(env_list)
    current = dict(pairs)
    before = dict((k, current.get(k)) for k in wanted)
    after = dict(wanted)
    if before == after:
        return list(env_list or []), before, after
    new, seen = [], set()
    for name, value in pairs:
        if name in wanted:
            seen.add(name)
            if wanted[name] is None:
                continue
            value = wanted[name]
        new.append(name if value is None else '%s=%s' % (name, value))
    for name in sorted(wanted):
        if name not in seen and wanted[name] is not None:
            new.append('%s=%s' % (name, wanted[name]))
    return new, before, after


def recreate_body(attrs, env_list, image=None):
    """The ``POST /containers/create`` body that recreates a container from its ``docker inspect``.

    Everything (image, command, entrypoint, mounts, network mode, labels,
    restart policy, resource limits, log config...) is taken from the inspect
    data; only ``Env`` (and, when given, the image reference) is replaced.
    Returns ``(body, extra_networks)``: the Engine attaches one network at
    creation, the others (``{name: endpoint config}``) are connected afterwards.
    """
    config = dict(attrs.get('Config') or {})
    config['Env'] = list(env_list)
    if image:
        config['Image'] = image
    host = dict(attrs.get('HostConfig') or {})
    networks = ((attrs.get('NetworkSettings') or {}).get('Networks') or {})
    mode = host.get('NetworkMode') or 'default'
    endpoints = {}
    for net, endpoint in networks.items():
        endpoint = endpoint or {}
        generated = (attrs.get('Id', '')[:12], config.get('Hostname'))
        aliases = [a for a in endpoint.get('Aliases') or [] if a not in generated]
        kept = (('IPAMConfig', endpoint.get('IPAMConfig')), ('Links', endpoint.get('Links')),
                ('Aliases', aliases or None), ('DriverOpts', endpoint.get('DriverOpts')))
        endpoints[net] = dict((k, v) for k, v in kept if v)
    first = mode if mode in endpoints else (sorted(endpoints)[0] if endpoints else None)
    body = dict(config, HostConfig=host)
    if first is not None:
        body['NetworkingConfig'] = {'EndpointsConfig': {first: endpoints[first]}}
    extra = dict((net, cfg) for net, cfg in endpoints.items() if net != first)
    return body, extra


def replace_container(client, container, env_list, stop_timeout):
    """Recreate ``container`` with ``env_list``; the old one is stopped and kept under a new name.

    Returns ``(new_container, old_container)``: call ``discard_replaced(old)``
    once the new one is proven, or ``restore_replaced(client, new, old, name)``
    to put the old one back.  Any Engine failure restores the old container and
    raises ChainopsError naming the container.
    """
    container.reload()
    attrs = container.attrs
    name = container.name
    image_ref = (attrs.get('Config') or {}).get('Image')
    image = None
    try:
        # Keep the very same image even if its tag has moved since the container was created.
        if client.images.get(image_ref).id != attrs.get('Image'):
            image = attrs.get('Image')
    except docker.errors.DockerException:
        image = attrs.get('Image')
    body, extra = recreate_body(attrs, env_list, image)
    was_running = bool((attrs.get('State') or {}).get('Running'))
    api = client.api
    new = None
    try:
        if was_running:
            container.stop(timeout=stop_timeout)
        container.rename(name + REPLACED_SUFFIX)
        created = api._result(api._post_json(api._url('/containers/create'), data=body, params={'name': name}), True)
        new = client.containers.get(created['Id'])
        for net, endpoint in extra.items():
            api._raise_for_status(api._post_json(api._url('/networks/{0}/connect', net), data=dict(
                Container=new.id, EndpointConfig=endpoint)))
        new.start()
        new.reload()
    except docker.errors.DockerException as exc:
        restore_replaced(client, new, container, name, was_running)
        raise ChainopsError('recreating container %s failed: %s; the previous container was put back' % (name, exc))
    return new, container


def discard_replaced(old):
    """Remove the container a successful replace_container kept."""
    old.remove(force=True)


def restore_replaced(client, new, old, name, start=True):
    """Undo replace_container: remove the new container, give the old one its name back and start it."""
    try:
        if new is not None:
            new.remove(force=True)
        old.reload()
        if old.name != name:
            old.rename(name)
        if start:
            old.start()
    except docker.errors.DockerException as exc:
        raise ChainopsError('container %s could not be put back after a failed recreate (%s); it is kept as %s'
                            % (name, exc, old.name))
