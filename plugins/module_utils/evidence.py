# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Evidence bundles of containers and pods (private API of container_evidence).

A bundle is built in memory first, as ``{relative path: bytes}``: check mode
returns exactly the files a real run would write, and a real run writes them
into a staging directory that is renamed into place only when complete, so a
bundle directory never holds half an incident.

Redaction happens twice.  Structurally, environment values whose names look
secret are replaced in inspect/pod JSON (and ConfigMap values that feed such
variables).  Then every value redacted that way is scrubbed from the bytes of
every file of the bundle (logs, config files, JSON), so a token a process
prints or takes on its command line does not survive either.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import docker as docker_backend
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend

REDACTED = '********'
SECRET_NAME_RE = re.compile(r'TOKEN|SECRET|PASSWORD|PASSWD|KEY|PRIVATE|CREDENTIAL|DSN|AUTH', re.IGNORECASE)
# Shorter values (``true``, ``1``) would wreck logs if scrubbed everywhere; they are still redacted in JSON.
SCRUB_MIN_LENGTH = 8
LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'
KINDS = {'statefulset': 'StatefulSet', 'deployment': 'Deployment'}
MANIFEST = 'manifest.json'
FORMAT_VERSION = 1
_DURATION_RE = re.compile(r'^(\d+)([smhd]?)$')
_RFC3339_RE = re.compile(r'^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$', re.IGNORECASE)
_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}


# --- redaction ---------------------------------------------------------------------------

def secret_name(name):
    """Whether an environment variable (or ConfigMap key) name looks like it holds a secret."""
    return bool(SECRET_NAME_RE.search(name or ''))


def redact_env_list(env, secrets):
    """Docker's ``Config.Env`` (``NAME=value`` strings) with secret-looking values replaced."""
    redacted = []
    for item in env or []:
        name, sep, value = item.partition('=')
        if sep and secret_name(name) and value != REDACTED:
            secrets.add(value)
            item = '%s=%s' % (name, REDACTED)
        redacted.append(item)
    return redacted


def redact_docker_inspect(attrs, secrets):
    """A copy of ``docker inspect`` output with secret-looking environment values replaced."""
    clean = copy.deepcopy(attrs)
    config = clean.get('Config') or {}
    if config.get('Env'):
        config['Env'] = redact_env_list(config['Env'], secrets)
    return clean


def redact_k8s(obj, secrets):
    """A copy of a Kubernetes object with every ``env`` value of a secret-looking name replaced.

    Works on pods, pod templates and workloads alike (it walks the whole
    object), including the JSON kept in the last-applied-configuration
    annotation, which repeats the manifest.
    """
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'env' and isinstance(value, list):
                    for var in value:
                        if isinstance(var, dict) and 'value' in var and secret_name(var.get('name')):
                            if var['value'] not in (None, REDACTED):
                                secrets.add(str(var['value']))
                            var['value'] = REDACTED
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    clean = copy.deepcopy(obj)
    walk(clean)
    annotations = (clean.get('metadata') or {}).get('annotations') or {}
    if annotations.get(LAST_APPLIED):
        try:
            applied = json.loads(annotations[LAST_APPLIED])
        except ValueError:
            annotations[LAST_APPLIED] = REDACTED
        else:
            annotations[LAST_APPLIED] = json.dumps(redact_k8s(applied, secrets), sort_keys=True)
    return clean


def redact_mapping(data, secret_keys, secrets):
    """A copy of ConfigMap ``data`` with the values of secret keys (by name or by use) replaced."""
    clean = {}
    for key, value in (data or {}).items():
        if key in secret_keys or secret_name(key):
            secrets.add(str(value))
            value = REDACTED
        clean[key] = value
    return clean


def scrub(data, secrets):
    """``data`` (bytes) with every secret value of SCRUB_MIN_LENGTH or more replaced; returns (bytes, count)."""
    count = 0
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(scrubbable(secrets), key=len, reverse=True):
        needle = secret.encode('utf-8')
        found = data.count(needle)
        if found:
            count += found
            data = data.replace(needle, REDACTED.encode('ascii'))
    return data, count


def scrubbable(secrets):
    return set(s for s in secrets if len(s) >= SCRUB_MIN_LENGTH and s != REDACTED)


# --- options -----------------------------------------------------------------------------

def parse_time(name, value):
    """An RFC 3339 timestamp (``2026-11-23T14:00:00Z``, any fraction, any offset) as an aware datetime."""
    match = _RFC3339_RE.match(value.strip())
    if not match:
        raise ChainopsError('%s=%r is not allowed; give a duration such as 90s, 15m, 2h, 1d or an RFC 3339 '
                            'timestamp such as 2026-11-23T14:00:00Z' % (name, value))
    day, clock, fraction, offset = match.groups()
    offset = '+00:00' if offset.upper() == 'Z' else offset
    text = '%sT%s.%s%s' % (day, clock, (fraction or '0')[:6].ljust(6, '0'), offset.replace(':', ''))
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%f%z')
    except ValueError:
        raise ChainopsError('%s=%r is not a valid timestamp' % (name, value))


def since_seconds(value, now):
    """Seconds back from ``now`` that ``since`` (duration or timestamp) covers, at least 1."""
    match = _DURATION_RE.match(value.strip())
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = int((now - parse_time('since', value)).total_seconds())
    if seconds <= 0:
        raise ChainopsError('since=%r is not allowed; since must lie in the past' % value)
    return seconds


def check_label(label):
    """``label`` becomes one directory name: no separators, not ``.``/``..``, nothing hidden."""
    if not label or '/' in label or '\\' in label or '\x00' in label or label.startswith('.'):
        raise ChainopsError('label=%r is not allowed; label must be one directory name without "/" that does not '
                            'start with "."' % (label,))
    return label


def check_config_path(path):
    """A config path inside the container: absolute, normalised, without ``..``."""
    if not path.startswith('/') or '..' in path.split('/') or posixpath.normpath(path) in ('/', '//'):
        raise ChainopsError('config_paths item %r is not allowed; give absolute paths of files or directories '
                            'inside the container, such as /data/bitcell/config.toml' % (path,))
    return posixpath.normpath(path)


# --- bundle layout and manifest ------------------------------------------------------------

def bundle_timestamp(now):
    """Directory name of one collection: UTC, sortable, microseconds so two calls never collide."""
    return now.astimezone(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')


def bundle_dir(dest, label, now):
    return os.path.join(os.path.abspath(dest), check_label(label), bundle_timestamp(now))


def config_file_path(container_path):
    """Where a file copied from ``container_path`` lands inside the member's directory."""
    return posixpath.join('files', container_path.lstrip('/'))


def to_json(obj):
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + '\n').encode('utf-8')


def file_entry(path, data, redactions=0):
    return dict(path=path, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), redactions=redactions)


def finish_bundle(files, secrets, meta):
    """Scrub every file, add ``manifest.json``; returns (files, entries) where entries end with the manifest."""
    scrubbed, entries = {}, []
    for path in sorted(files):
        data, count = scrub(files[path], secrets)
        scrubbed[path] = data
        entries.append(file_entry(path, data, count))
    manifest = dict(meta, format_version=FORMAT_VERSION, files=entries)
    scrubbed[MANIFEST], count = scrub(to_json(manifest), secrets)
    return scrubbed, entries + [file_entry(MANIFEST, scrubbed[MANIFEST], count)]


def write_bundle(directory, files):
    """Write ``files`` under ``directory``, which must not exist yet; owner-only permissions.

    Files go to a staging directory beside it first, renamed into place when all are written.
    """
    parent = os.path.dirname(directory)
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        if os.path.lexists(directory):
            raise ChainopsError('bundle directory %s already exists; nothing was written' % directory)
        staging = tempfile.mkdtemp(prefix='.partial-', dir=parent)
    except OSError as exc:
        raise ChainopsError('dest=%s cannot hold the bundle: %s; give a writable directory as dest'
                            % (os.path.dirname(parent), exc))
    try:
        for path, data in files.items():
            target = os.path.join(staging, *path.split('/'))
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
        os.rename(staging, directory)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ChainopsError('dest=%s: writing the bundle failed: %s; nothing was kept'
                            % (os.path.dirname(parent), exc))


def read_back(directory, entries):
    """Entries recomputed from the files on disk (what the module returns after a write)."""
    found = []
    for entry in entries:
        with open(os.path.join(directory, *entry['path'].split('/')), 'rb') as handle:
            found.append(file_entry(entry['path'], handle.read(), entry['redactions']))
    return found


# --- docker --------------------------------------------------------------------------------

def _archive_files(container, path):
    """Regular files under ``path`` in the container as {container path: bytes}, or None when it is missing."""
    try:
        stream, _stat = container.get_archive(path)
    except docker_backend.docker.errors.NotFound:
        return None
    buffer = io.BytesIO(b''.join(stream))
    found = {}
    with tarfile.open(fileobj=buffer, mode='r') as archive:
        for member in archive:
            # Names are relative to the parent of ``path``; anything escaping it is skipped.
            name = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.name))
            if member.isfile() and (name == path or name.startswith(path.rstrip('/') + '/')):
                found[name] = archive.extractfile(member).read()
    return found


def collect_container(container, params, now, secrets):
    """({relative path: bytes}, summary, missing) of one container."""
    options = {'tail': params['tail_lines'], 'stdout': True, 'stderr': True}
    if params.get('since'):
        options['since'] = int((now - datetime.timedelta(seconds=since_seconds(params['since'], now))).timestamp())
    logs = container.logs(**options)
    info = docker_backend.describe_container(container, with_stats=False)
    created = parse_time('Created', container.attrs['Created'])
    events = container.client.events(since=int(created.timestamp()), until=int(now.timestamp()),
                                     filters={'container': container.id}, decode=True)
    files = {
        'logs.txt': logs,
        'inspect.json': to_json(dict(container=redact_docker_inspect(container.attrs, secrets), events=list(events))),
    }
    if params['stats']:
        sample = container.stats(stream=False) if info['running'] else None
        files['stats.json'] = to_json(dict(sampled_at=now.isoformat(), running=info['running'], stats=sample))
    missing = []
    for path in params['config_paths']:
        copied = _archive_files(container, path)
        if copied is None:
            missing.append(dict(member=container.name, path=path, reason='no such file or directory'))
        for name, data in (copied or {}).items():
            files[config_file_path(name)] = data
    summary = dict(status=info['status'], running=info['running'], restart_count=info['restart_count'],
                   exit_code=info['exit_code'], oom_killed=info['oom_killed'], log_lines=_line_count(logs))
    return files, summary, missing


def _line_count(data):
    return data.count(b'\n') + (1 if data and not data.endswith(b'\n') else 0)


# --- kubernetes ----------------------------------------------------------------------------

def kube_pods(kube, params):
    """(workload or None, pods) the options name; ChainopsError naming the option when missing."""
    namespace = params['namespace']
    if params.get('pod'):
        pod = kube.exists('namespace=%s pod/%s' % (namespace, params['pod']), kube.core.read_namespaced_pod,
                          params['pod'], namespace)
        if pod is None:
            kube_backend.read_namespace(kube, namespace)
            raise ChainopsError('pod=%s does not exist in namespace=%s; pick an existing pod; nothing was written'
                                % (params['pod'], namespace))
        return None, [pod]
    kind, name = kube_backend.parse_workload('workload', params['workload'])
    func = kube.apps.read_namespaced_deployment if kind == 'deployment' else kube.apps.read_namespaced_stateful_set
    workload = kube.exists(kube_backend.describe(namespace, kind, name), func, name, namespace)
    if workload is None:
        kube_backend.read_namespace(kube, namespace)
        raise ChainopsError('workload=%s does not exist in namespace=%s; pick an existing %s; nothing was written'
                            % (params['workload'], namespace, kind))
    return workload, kube_backend.workload_pods(kube, namespace, workload)


def _events(kube, namespace, kind, name):
    """Events about one object; an API without events is recorded as such rather than failing the collection."""
    try:
        found = kube.call('namespace=%s events' % namespace, kube.core.list_namespaced_event, namespace,
                          field_selector='involvedObject.name=%s' % name)
    except ChainopsError as exc:
        return None, exc.msg
    # Filtered again: not every API server honours field selectors on events.
    return [e for e in found.get('items') or [] if (e.get('involvedObject') or {}).get('name') == name
            and (e.get('involvedObject') or {}).get('kind', kind) == kind], None


def config_map_refs(spec):
    """ConfigMaps a pod spec uses, as {name: set of keys feeding secret-named env vars or None for all keys}."""
    refs = {}
    for volume in spec.get('volumes') or []:
        sources = [volume] + list((volume.get('projected') or {}).get('sources') or [])
        for source in sources:
            if source.get('configMap'):
                refs.setdefault(source['configMap']['name'], set())
    for container in (spec.get('initContainers') or []) + (spec.get('containers') or []):
        for source in container.get('envFrom') or []:
            if source.get('configMapRef'):
                keys = refs.setdefault(source['configMapRef']['name'], set())
                keys.add(('prefix', source.get('prefix') or ''))
        for var in container.get('env') or []:
            ref = (var.get('valueFrom') or {}).get('configMapKeyRef')
            if ref:
                keys = refs.setdefault(ref['name'], set())
                if secret_name(var.get('name')):
                    keys.add(('key', ref['key']))
    return refs


def _config_map_secret_keys(data, uses):
    """Keys of a ConfigMap whose values end up in secret-named env vars."""
    keys = set(key for kind, key in uses if kind == 'key')
    for kind, prefix in uses:
        if kind == 'prefix':
            keys.update(k for k in data if secret_name(prefix + k))
    return keys


def config_map_files(spec, path):
    """[(container path, ConfigMap name, key)] for ``path`` under a configMap volume of the pod, or None."""
    volumes = {}
    for volume in spec.get('volumes') or []:
        if volume.get('configMap'):
            volumes[volume['name']] = volume['configMap']
    for container in spec.get('containers') or []:
        for mount in container.get('volumeMounts') or []:
            source = volumes.get(mount['name'])
            mount_path = mount['mountPath'].rstrip('/') or '/'
            if source is None or not (path == mount_path or path.startswith(mount_path.rstrip('/') + '/')):
                continue
            inside = posixpath.join(mount.get('subPath') or '', path[len(mount_path):].lstrip('/')).rstrip('/')
            items = source.get('items')
            return dict(name=source['name'], mount_path=mount_path, sub_path=mount.get('subPath') or '',
                        inside=inside, items=dict((i['path'], i['key']) for i in items) if items else None)
    return None


def _volume_files(located, config_map):
    """{container path: bytes} of a ConfigMap volume at the location config_map_files found."""
    data = dict((k, v.encode('utf-8')) for k, v in (config_map.get('data') or {}).items())
    data.update((k, base64.b64decode(v)) for k, v in (config_map.get('binaryData') or {}).items())
    # File name inside the volume -> key of the ConfigMap.
    layout = located['items'] if located['items'] is not None else dict((k, k) for k in data)
    found = {}
    for inside, key in layout.items():
        if key not in data:
            continue
        if located['inside'] and not (inside == located['inside'] or inside.startswith(located['inside'] + '/')):
            continue
        relative = inside[len(located['sub_path']):].lstrip('/') if located['sub_path'] else inside
        found[posixpath.join(located['mount_path'], relative).rstrip('/')] = data[key]
    return found


def _pod_logs(kube, namespace, pod, container, params, now):
    kwargs = dict(container=container, tail_lines=params['tail_lines'], _preload_content=False)
    if params.get('since'):
        kwargs['since_seconds'] = since_seconds(params['since'], now)
    response = kube.invoke('namespace=%s pod/%s container %s logs' % (namespace, pod, container),
                           kube.core.read_namespaced_pod_log, pod, namespace, **kwargs)
    return response.data


def _pod_stats(kube, namespace, name, now):
    """What metrics.k8s.io says about the pod; an API without metrics is recorded, not fatal."""
    custom = kube_backend.kubernetes.client.CustomObjectsApi(kube.api_client)
    try:
        sample = kube.call('namespace=%s pod/%s metrics' % (namespace, name), custom.get_namespaced_custom_object,
                           'metrics.k8s.io', 'v1beta1', namespace, 'pods', name)
        return dict(sampled_at=now.isoformat(), source='metrics.k8s.io/v1beta1', stats=sample)
    except ChainopsError as exc:
        return dict(sampled_at=now.isoformat(), source='metrics.k8s.io/v1beta1', stats=None, error=exc.msg)


def _terminations(pod):
    for status in (pod.get('status') or {}).get('containerStatuses') or []:
        for state in (status.get('state') or {}, status.get('lastState') or {}):
            if state.get('terminated'):
                yield state['terminated']


def collect_pod(kube, pod, params, now, secrets):
    """({relative path: bytes}, summary, missing) of one pod: logs of every container, pod JSON, config files."""
    namespace, name, spec = pod['metadata']['namespace'], pod['metadata']['name'], pod['spec']
    containers = [c['name'] for c in spec['containers']]
    logs, missing = [], []
    for container in containers:
        try:
            text = _pod_logs(kube, namespace, name, container, params, now)
        except ChainopsError as exc:
            # A container that never started has no log yet (HTTP 400): evidence of its own.
            if exc.details.get('status') != 400:
                raise
            text = b''
            missing.append(dict(member=name, path='logs of container %s' % container, reason=exc.msg))
        # Several containers are told apart the way `tail` tells files apart.
        logs.append(text if len(containers) == 1 else b'==> container %s <==\n%s' % (container.encode(), text))
    logs = b''.join(logs)
    config_maps, redacted_maps = {}, {}
    for cm_name, uses in sorted(config_map_refs(spec).items()):
        found = kube.exists('namespace=%s configmap/%s' % (namespace, cm_name), kube.core.read_namespaced_config_map,
                            cm_name, namespace)
        config_maps[cm_name] = found
        data = (found or {}).get('data') or {}
        redacted_maps[cm_name] = None if found is None else redact_mapping(
            data, _config_map_secret_keys(data, uses), secrets)
    events, events_error = _events(kube, namespace, 'Pod', name)
    document = dict(pod=redact_k8s(pod, secrets), events=events, config_maps=redacted_maps)
    if events_error:
        document['events_error'] = events_error
    files = {'logs.txt': logs, 'inspect.json': to_json(document)}
    if params['stats']:
        files['stats.json'] = to_json(_pod_stats(kube, namespace, name, now))
    for path in params['config_paths']:
        located = config_map_files(spec, path)
        config_map = config_maps.get(located['name']) if located else None
        copied = _volume_files(located, config_map) if config_map else {}
        if not copied:
            reason = ('not in a configMap volume of the pod' if located is None
                      else 'configmap/%s has no such key' % located['name'] if config_map
                      else 'configmap/%s does not exist' % located['name'])
            missing.append(dict(member=name, path=path, reason=reason))
        for container_path, data in copied.items():
            files[config_file_path(container_path)] = data
    terminations = list(_terminations(pod))
    summary = kube_backend.pod_summary(pod)
    summary = dict(status=summary['phase'], running=summary['phase'] == 'Running',
                   restart_count=summary['restart_count'],
                   exit_code=terminations[0].get('exitCode') if terminations else None,
                   oom_killed=any(t.get('reason') == 'OOMKilled' for t in terminations),
                   log_lines=_line_count(logs))
    return files, summary, missing


# --- one call ------------------------------------------------------------------------------

def collect(params, now, docker_client=None, kube=None):
    """The whole bundle in memory: ``dict(bundle_dir, target, files, entries, summary, missing, secrets)``.

    Exactly one of ``docker_client`` and ``kube`` is given, matching the target options.
    """
    params = dict(params, config_paths=[check_config_path(p) for p in params['config_paths'] or []])
    secrets, files, summary, missing = set(), {}, {}, []
    if docker_client is not None:
        container = docker_backend.find_container(docker_client, params)
        target, label = 'container/%s' % container.name, container.name
        files, summary[container.name], missing = collect_container(container, params, now, secrets)
    else:
        workload, pods = kube_pods(kube, params)
        namespace = params['namespace']
        if workload is None:
            label = pods[0]['metadata']['name']
            target = 'namespace=%s pod/%s' % (namespace, label)
            files, summary[label], missing = collect_pod(kube, pods[0], params, now, secrets)
        else:
            kind, label = kube_backend.parse_workload('workload', params['workload'])
            target = 'namespace=%s %s' % (namespace, params['workload'])
            events, events_error = _events(kube, namespace, KINDS[kind], label)
            document = dict(workload=redact_k8s(workload, secrets), events=events,
                            pods=[p['metadata']['name'] for p in pods])
            if events_error:
                document['events_error'] = events_error
            files['inspect.json'] = to_json(document)
            # One subdirectory per pod: the pods of a workload come and go, their names are the evidence.
            for pod in pods:
                pod_name = pod['metadata']['name']
                pod_files, summary[pod_name], pod_missing = collect_pod(kube, pod, params, now, secrets)
                files.update((posixpath.join(pod_name, path), data) for path, data in pod_files.items())
                missing.extend(pod_missing)
    directory = bundle_dir(params['dest'], params['label'] or label, now)
    meta = dict(collector='chainops.runbooks.container_evidence', collected_at=now.isoformat(), target=target,
                options=dict((k, params[k]) for k in ('tail_lines', 'since', 'stats', 'config_paths')),
                summary=summary, missing=missing)
    files, entries = finish_bundle(files, secrets, meta)
    return dict(bundle_dir=directory, target=target, files=files, entries=entries, summary=summary,
                missing=missing, secrets=scrubbable(secrets))
