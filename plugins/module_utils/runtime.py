# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where a node runs: a docker container or Kubernetes pods (private API).

``node_restart`` and ``node_resources`` act on a node without caring where it
runs.  ``runtime_target(params)`` picks the backend from the options the user
gave (a container / compose service, or a namespace with a pod / workload) and
returns an object with the same few verbs: ``state()``, ``restart()``,
``set_resources()`` and ``ready(state)``.  States are plain dicts, so a plan is
a comparison of dicts and check mode predicts from the same ``state()`` the
real run re-reads afterwards.
"""

from __future__ import annotations

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, check_http_url
from ansible_collections.chainops.runbooks.plugins.module_utils import docker as docker_backend
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend
from ansible_collections.chainops.runbooks.plugins.module_utils.http import ProbeError, http_get, jsonrpc_call
from ansible_collections.chainops.runbooks.plugins.module_utils.workload import plan_restart
from ansible_collections.chainops.runbooks.plugins.module_utils.quantity import (
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
)

DOCKER_OPTIONS = ('container', 'compose_service')
KUBE_OPTIONS = ('pod', 'workload')


def target_argument_spec():
    """Options that say where the node runs (twin of the ``target`` doc fragment)."""
    return dict(
        container=dict(type='str'),
        compose_service=dict(type='str'),
        compose_project=dict(type='str'),
        namespace=dict(type='str'),
        pod=dict(type='str'),
        workload=dict(type='str'),
    )


# Exactly one target; a namespace next to a docker target would be silently ignored, so it is refused.
TARGET_MUTUALLY_EXCLUSIVE = [list(DOCKER_OPTIONS + KUBE_OPTIONS), ['container', 'namespace'],
                             ['compose_service', 'namespace']]
TARGET_REQUIRED_ONE_OF = [list(DOCKER_OPTIONS + KUBE_OPTIONS)]
TARGET_REQUIRED_BY = {'pod': 'namespace', 'workload': 'namespace', 'compose_project': 'compose_service'}


def node_argument_spec():
    """Options of a module that acts on one node: its name and where it runs (docker or Kubernetes)."""
    spec = dict(name=dict(type='str'), k8s_container=dict(type='str'))
    spec.update(target_argument_spec())
    spec.update(docker_backend.docker_argument_spec())
    spec.update(kube_backend.kube_argument_spec())
    return spec


def health_wait_argument_spec(wait_for):
    """Options that tell when a node is back after an action; ``wait_for`` is the module's default."""
    return dict(
        health_url=dict(type='str'),
        rpc_url=dict(type='str'),
        probe_timeout=dict(type='float', default=3.0),
        wait_for=dict(type='str', default=wait_for, choices=['healthy', 'progressing']),
        stop_timeout=dict(type='int', default=10),
    )


# "progressing" is judged by the height, which only JSON-RPC gives.
HEALTH_WAIT_REQUIRED_IF = [('wait_for', 'progressing', ('rpc_url',))]


def check_health_wait(params):
    """ChainopsError naming the option when the health_wait_argument_spec options are unusable."""
    for option in ('health_url', 'rpc_url'):
        if params[option]:
            check_http_url(option, params[option])
    if params['probe_timeout'] <= 0 or params['stop_timeout'] < 0:
        raise ChainopsError('probe_timeout=%s stop_timeout=%s is not allowed; probe_timeout must be > 0 and '
                            'stop_timeout >= 0 seconds' % (params['probe_timeout'], params['stop_timeout']))


def back_check(observe, is_back, wait_for):
    """A ``wait_until`` check: ``observe()`` is back (``is_back``) and, for ``progressing``, its height grew.

    The first state that is back sets the starting height, so growth is measured after the action.
    """
    start = []

    def check():
        state = observe()
        if not is_back(state):
            return False
        if wait_for == 'healthy':
            return True
        if not start or start[0] is None:
            start[:] = [state['height']]
            return False
        return state['height'] is not None and state['height'] > start[0]
    return check


def is_docker_target(params):
    return any(params.get(o) for o in DOCKER_OPTIONS)


def runtime_target(params):
    """The DockerTarget or KubeTarget the options describe (clients are opened here)."""
    if is_docker_target(params):
        if not docker_backend.HAS_DOCKER:
            raise ChainopsError(missing_required_lib('docker'), exception=docker_backend.DOCKER_IMPORT_ERROR)
        return DockerTarget(docker_backend.docker_client(params), params)
    if not kube_backend.HAS_KUBERNETES:
        raise ChainopsError(missing_required_lib('kubernetes'), exception=kube_backend.KUBERNETES_IMPORT_ERROR)
    return KubeTarget(kube_backend.kube_client(params), params)


class DockerTarget:
    runtime = 'docker'

    def __init__(self, client, params):
        self.client = client
        self.container = docker_backend.find_container(client, params)
        self.name = self.container.name
        self.stop_timeout = params.get('stop_timeout', 10)

    @property
    def label(self):
        return 'container/%s' % self.name

    def state(self):
        self.container.reload()
        info = docker_backend.describe_container(self.container, with_stats=False)
        return dict(
            runtime='docker', target=self.label, running=info['running'], status=info['status'],
            restart_count=info['restart_count'], started_at=info['started_at'],
            cpu=format_cpu(int(info['cpu_limit'] * 1000)) if info['cpu_limit'] else None,
            memory=format_memory(info['memory_limit_bytes']) if info['memory_limit_bytes'] else None,
        )

    @staticmethod
    def ready(state):
        return state['running'] and state['status'] == 'running'

    @staticmethod
    def restarted(before, after):
        return after['started_at'] != before['started_at']

    def restart_action(self, state):
        return 'docker %s %s' % ('restart' if state['running'] else 'start', self.name)

    def restart(self, state):
        if state['running']:
            self._engine('restart', self.container.restart, timeout=self.stop_timeout)
        else:
            self._engine('start', self.container.start)

    def resources_action(self, cpu, memory):
        flags = ['--cpus %s' % (cpu / 1000.0)] if cpu is not None else []
        flags += ['--memory %d --memory-swap %d' % (memory, memory)] if memory is not None else []
        return 'docker update %s %s' % (' '.join(flags), self.name)

    def set_resources(self, cpu, memory):
        self._engine('update', docker_backend.update_limits, self.client, self.container.id,
                     cpu * 1000000 if cpu is not None else None, memory)

    def _engine(self, verb, func, *args, **kwargs):
        """Call the Engine; its errors become ChainopsError naming the container and the verb."""
        try:
            return func(*args, **kwargs)
        except docker_backend.docker.errors.DockerException as exc:
            raise ChainopsError('docker %s %s failed: %s' % (verb, self.name, exc))


class KubeTarget:
    runtime = 'kubernetes'

    def __init__(self, kube, params):
        self.kube = kube
        self.namespace = params['namespace']
        self.pod = params.get('pod')
        self.container_name = params.get('k8s_container')
        if self.pod:
            self.kind, self.workload = None, None
            self._read_pod()
        else:
            self.kind, self.workload = kube_backend.parse_workload('workload', params['workload'])
            kube_backend.read_workload(kube, self.namespace, self.kind, self.workload)
        self.name = self.pod or self.workload

    @property
    def label(self):
        return 'namespace=%s %s' % (self.namespace, 'pod/%s' % self.pod if self.pod else '%s/%s' % (
            self.kind, self.workload))

    def _read_pod(self):
        found = self.kube.exists(self.label, self.kube.core.read_namespaced_pod, self.pod, self.namespace)
        if found is None:
            kube_backend.read_namespace(self.kube, self.namespace)
            raise ChainopsError('%s does not exist; pick an existing pod' % self.label)
        return found

    def _owner_workload(self, pod):
        """(kind, name) of the StatefulSet or Deployment that owns the pod, or (None, None) for a bare pod."""
        for owner in pod['metadata'].get('ownerReferences') or []:
            if owner.get('kind') == 'StatefulSet':
                return 'statefulset', owner['name']
            if owner.get('kind') == 'ReplicaSet':
                rs = self.kube.call(self.label, self.kube.apps.read_namespaced_replica_set, owner['name'],
                                    self.namespace)
                for rs_owner in rs['metadata'].get('ownerReferences') or []:
                    if rs_owner.get('kind') == 'Deployment':
                        return 'deployment', rs_owner['name']
        return None, None

    def _template_resources(self, template):
        container = kube_backend.container_of(template, self.container_name, 'k8s_container')
        limits = (container.get('resources') or {}).get('limits') or {}
        return container['name'], limits.get('cpu'), limits.get('memory')

    def state(self):
        if self.pod:
            pod = self._read_pod()
            summary = kube_backend.pod_summary(pod)
            name, cpu, memory = self._template_resources(pod)
            return dict(runtime='kubernetes', target=self.label, running=summary['phase'] == 'Running',
                        status=summary['phase'], ready=summary['ready'], uid=summary['uid'],
                        restart_count=summary['restart_count'], started_at=summary['started_at'],
                        container=name, cpu=_canonical(parse_cpu, format_cpu, cpu),
                        memory=_canonical(parse_memory, format_memory, memory))
        workload = kube_backend.read_workload(self.kube, self.namespace, self.kind, self.workload)
        done, message = kube_backend.rollout_status(workload)
        pods = [kube_backend.pod_summary(p) for p in kube_backend.workload_pods(self.kube, self.namespace, workload)]
        name, cpu, memory = self._template_resources(workload['spec']['template'])
        return dict(runtime='kubernetes', target=self.label, running=all(p['phase'] == 'Running' for p in pods),
                    status=message, ready=done and all(p['ready'] for p in pods), generation=workload['metadata'].get(
                        'generation'), pods=pods, restart_count=sum(p['restart_count'] for p in pods),
                    container=name, cpu=_canonical(parse_cpu, format_cpu, cpu),
                    memory=_canonical(parse_memory, format_memory, memory))

    @staticmethod
    def ready(state):
        return bool(state['ready'])

    def restarted(self, before, after):
        if self.pod:
            return after['uid'] != before['uid']
        return (after['generation'] or 0) > (before['generation'] or 0)

    def restart_action(self, state):
        if self.pod:
            return 'kubectl delete pod %s -n %s' % (self.pod, self.namespace)
        return 'kubectl rollout restart %s/%s -n %s' % (self.kind, self.workload, self.namespace)

    def restart(self, state):
        if self.pod:
            self.kube.call(self.label, self.kube.core.delete_namespaced_pod, self.pod, self.namespace)
            return
        workload = kube_backend.read_workload(self.kube, self.namespace, self.kind, self.workload)
        plan = plan_restart(self.namespace, self.kind, workload, None)
        kube_backend.patch_workload(self.kube, self.namespace, self.kind, self.workload, plan.patch)

    def resource_owner(self):
        """The workload whose template sets the pod's resources (a pod's own spec is immutable)."""
        if not self.pod:
            return self.kind, self.workload
        kind, name = self._owner_workload(self._read_pod())
        if kind is None:
            raise ChainopsError('%s has no Deployment or StatefulSet owner, and a bare pod\'s resources cannot '
                                'change; give workload instead of pod' % self.label)
        return kind, name

    def resources_action(self, cpu, memory):
        kind, name = self.resource_owner()
        limits = ','.join(filter(None, ['cpu=%s' % format_cpu(cpu) if cpu is not None else None,
                                        'memory=%s' % format_memory(memory) if memory is not None else None]))
        return 'kubectl set resources %s/%s -n %s -c %s --limits=%s --requests=%s' % (
            kind, name, self.namespace, self.state()['container'], limits, limits)

    def set_resources(self, cpu, memory):
        kind, name = self.resource_owner()
        values = {}
        if cpu is not None:
            values['cpu'] = format_cpu(cpu)
        if memory is not None:
            values['memory'] = format_memory(memory)
        # Requests follow limits so the scheduler never sees a request above the new limit.
        container = {'name': self.state()['container'], 'resources': {'limits': values, 'requests': values}}
        kube_backend.patch_workload(self.kube, self.namespace, kind, name,
                                    {'spec': {'template': {'spec': {'containers': [container]}}}})


def _canonical(parse, fmt, value):
    """A quantity as the API stores it, in our canonical spelling (so 1000m and 1 compare equal)."""
    if value is None:
        return None
    try:
        return fmt(parse('value', value))
    except ChainopsError:
        return str(value)


def node_health(health_url, rpc_url, timeout, validate_certs):
    """What the node itself says: ``{healthy, health, height}``; unreachable is data, not an error.

    ``healthy`` is None when there is no health_url to ask.
    """
    result = dict(healthy=None, health=None, height=None)
    if health_url:
        try:
            response = http_get(health_url, timeout=timeout, validate_certs=validate_certs)
            result['healthy'] = response.ok
            result['health'] = 'HTTP %d' % response.status
        except ProbeError as exc:
            result['healthy'], result['health'] = False, exc.msg
    if rpc_url:
        try:
            height = jsonrpc_call(rpc_url, 'eth_blockNumber', timeout=timeout, validate_certs=validate_certs)[0]
            result['height'] = int(height, 16) if isinstance(height, str) else None
        except (ProbeError, ValueError):
            result['height'] = None
    return result


def wait_until(check, deadline_at, sleep_s, clock=time.monotonic, sleep=time.sleep):
    """Call ``check()`` until it returns a truthy value or the deadline passes; returns its last value."""
    while True:
        value = check()
        if value or clock() >= deadline_at:
            return value
        sleep(min(sleep_s, max(0.0, deadline_at - clock())))
