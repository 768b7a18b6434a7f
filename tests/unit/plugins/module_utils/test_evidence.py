# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Evidence bundles: redaction, layout, manifest, and collection against stand-in clients."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import stat
import tarfile
from types import SimpleNamespace

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import evidence
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError

NOW = datetime.datetime(2026, 11, 23, 14, 1, 2, 123456, tzinfo=datetime.timezone.utc)
TOKEN = 'tok-5ecr3t-value-42'


# --- redaction -----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['API_TOKEN', 'db_password', 'Passwd', 'SECRET', 'SSH_PRIVATE', 'AWS_ACCESS_KEY_ID',
                                  'credentials', 'SENTRY_DSN', 'BASIC_AUTH'])
def test_secret_looking_names(name):
    assert evidence.secret_name(name)


@pytest.mark.parametrize('name', ['NODE_ID', 'REGION', 'BOOTSTRAP_NODES', 'PATH', '', None])
def test_plain_names(name):
    assert not evidence.secret_name(name)


def test_docker_env_values_are_redacted_and_remembered():
    attrs = {'Config': {'Env': ['NODE_ID=n1', 'BITCELL_API_TOKEN=' + TOKEN, 'EMPTY_KEY=', 'JUSTNAME']}}
    secrets = set()
    clean = evidence.redact_docker_inspect(attrs, secrets)
    assert clean['Config']['Env'] == ['NODE_ID=n1', 'BITCELL_API_TOKEN=********', 'EMPTY_KEY=********', 'JUSTNAME']
    assert attrs['Config']['Env'][1].endswith(TOKEN)  # the original is untouched
    assert TOKEN in secrets


def test_pod_env_and_last_applied_annotation_are_redacted():
    container = {'name': 'node', 'env': [{'name': 'NODE_ID', 'value': 'n1'}, {'name': 'API_TOKEN', 'value': TOKEN},
                                         {'name': 'FROM_REF_KEY', 'valueFrom': {'configMapKeyRef': {'name': 'c'}}}]}
    pod = {'metadata': {'annotations': {evidence.LAST_APPLIED: json.dumps({'spec': {'containers': [container]}})}},
           'spec': {'containers': [container], 'initContainers': [dict(container, name='init')]}}
    secrets = set()
    clean = evidence.redact_k8s(pod, secrets)
    assert TOKEN not in json.dumps(clean)
    assert clean['spec']['containers'][0]['env'][0] == {'name': 'NODE_ID', 'value': 'n1'}
    assert clean['spec']['initContainers'][0]['env'][1]['value'] == evidence.REDACTED
    assert 'valueFrom' in clean['spec']['containers'][0]['env'][2]  # a reference is not a secret
    assert secrets == {TOKEN}


def test_config_map_keys_feeding_secret_env_are_redacted():
    spec = {'containers': [{'name': 'node',
                            'envFrom': [{'configMapRef': {'name': 'node-env'}, 'prefix': 'API_'}],
                            'env': [{'name': 'RPC_AUTH', 'valueFrom': {'configMapKeyRef': {'name': 'rpc', 'key': 'x'}}}]}],
            'volumes': [{'name': 'cfg', 'configMap': {'name': 'node-config'}}]}
    refs = evidence.config_map_refs(spec)
    assert set(refs) == {'node-env', 'rpc', 'node-config'}
    secrets = set()
    data = {'TOKEN': TOKEN, 'URL': 'http://x'}
    # API_ + TOKEN looks secret, so does the key x feeding RPC_AUTH.
    assert evidence.redact_mapping(data, evidence._config_map_secret_keys(data, refs['node-env']), secrets) == {
        'TOKEN': '********', 'URL': 'http://x'}
    assert evidence.redact_mapping({'x': 'hunter2-long', 'y': 'plain'},
                                   evidence._config_map_secret_keys({'x': 1}, refs['rpc']), secrets) == {
        'x': '********', 'y': 'plain'}
    assert secrets == {TOKEN, 'hunter2-long'}


def test_scrub_replaces_long_secrets_everywhere_and_counts():
    data = ('started with --token %s\nAUTH=true\n%s again\n' % (TOKEN, TOKEN)).encode()
    clean, count = evidence.scrub(data, {TOKEN, 'true', evidence.REDACTED})
    assert clean == b'started with --token ********\nAUTH=true\n******** again\n' and count == 2


def test_scrub_replaces_the_longest_secret_first():
    clean, count = evidence.scrub(b'abcdefgh-ijkl', {'abcdefgh', 'abcdefgh-ijkl'})
    assert clean == b'********' and count == 1


# --- options and layout -----------------------------------------------------------------------

@pytest.mark.parametrize('value,seconds', [('90', 90), ('90s', 90), ('15m', 900), ('2h', 7200), ('1d', 86400),
                                           ('2026-11-23T14:00:00Z', 62), ('2026-11-23T15:00:00.5+01:00', 61),
                                           ('2026-11-23T14:01:01.123456789Z', 1)])
def test_since(value, seconds):
    assert evidence.since_seconds(value, NOW) == seconds


@pytest.mark.parametrize('value', ['yesterday', '15x', '-5m', '2026-11-23', '0', '2026-11-23T15:00:00Z'])
def test_bad_since_names_the_argument(value):
    with pytest.raises(ChainopsError) as info:
        evidence.since_seconds(value, NOW)
    assert 'since=' in info.value.msg and value in info.value.msg


def test_bundle_dir_is_dest_label_and_a_sortable_utc_timestamp(tmp_path):
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=-8)))
    assert evidence.bundle_dir(str(tmp_path), 'bitcell-node-eu-west-2', local) == os.path.join(
        str(tmp_path), 'bitcell-node-eu-west-2', '20261123T140102.123456Z')


@pytest.mark.parametrize('label', ['', '.', '..', '.hidden', 'a/b', '../x'])
def test_label_is_one_directory_name(label):
    with pytest.raises(ChainopsError) as info:
        evidence.check_label(label)
    assert 'label=' in info.value.msg


def test_config_paths_land_under_files():
    assert evidence.config_file_path(evidence.check_config_path('/data//bitcell/config.toml')) == \
        'files/data/bitcell/config.toml'
    for bad in ('relative.toml', '/data/../etc/shadow', '/'):
        with pytest.raises(ChainopsError) as info:
            evidence.check_config_path(bad)
        assert repr(bad) in info.value.msg


# --- manifest and writing ---------------------------------------------------------------------

def test_manifest_lists_every_file_with_sha256_and_comes_last():
    files, entries = evidence.finish_bundle({'logs.txt': b'a %s\n' % TOKEN.encode(), 'inspect.json': b'{}\n'},
                                            {TOKEN}, dict(target='container/x'))
    assert [e['path'] for e in entries] == ['inspect.json', 'logs.txt', 'manifest.json']
    for entry in entries:
        assert entry['sha256'] == hashlib.sha256(files[entry['path']]).hexdigest()
        assert entry['bytes'] == len(files[entry['path']])
    manifest = json.loads(files['manifest.json'])
    assert manifest['target'] == 'container/x' and manifest['format_version'] == 1
    assert manifest['files'] == entries[:-1]
    assert entries[1]['redactions'] == 1 and TOKEN.encode() not in files['logs.txt']


def test_write_bundle_is_owner_only_and_never_overwrites(tmp_path):
    directory = evidence.bundle_dir(str(tmp_path / 'incident'), 'n1', NOW)
    files = {'logs.txt': b'x\n', 'files/data/config.toml': b'a = 1\n'}
    evidence.write_bundle(directory, files)
    assert open(os.path.join(directory, 'files', 'data', 'config.toml'), 'rb').read() == b'a = 1\n'
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(directory, 'logs.txt')).st_mode) == 0o600
    entries = [evidence.file_entry(p, d) for p, d in sorted(files.items())]
    assert evidence.read_back(directory, entries) == entries
    with pytest.raises(ChainopsError) as info:
        evidence.write_bundle(directory, files)
    assert 'already exists' in info.value.msg
    assert os.listdir(os.path.dirname(directory)) == [os.path.basename(directory)]  # no staging left behind


def test_unwritable_dest_names_dest(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(ChainopsError) as info:
        evidence.write_bundle(evidence.bundle_dir(str(tmp_path / 'file'), 'n1', NOW), {'logs.txt': b''})
    assert info.value.msg.startswith('dest=%s' % (tmp_path / 'file'))


# --- config files of pods ---------------------------------------------------------------------

POD_SPEC = {
    'containers': [{'name': 'node', 'volumeMounts': [
        {'name': 'cfg', 'mountPath': '/data/bitcell/conf'},
        {'name': 'one', 'mountPath': '/etc/node.toml', 'subPath': 'node.toml'},
        {'name': 'data', 'mountPath': '/data/bitcell'}]}],
    'volumes': [{'name': 'cfg', 'configMap': {'name': 'node-config'}},
                {'name': 'one', 'configMap': {'name': 'node-config', 'items': [{'key': 'config.toml',
                                                                                'path': 'node.toml'}]}},
                {'name': 'data', 'emptyDir': {}}],
}
CONFIG_MAP = {'data': {'config.toml': 'a = 1\n', 'peers.txt': 'p1\n'}}


@pytest.mark.parametrize('path,expected', [
    ('/data/bitcell/conf/config.toml', {'/data/bitcell/conf/config.toml': b'a = 1\n'}),
    ('/data/bitcell/conf', {'/data/bitcell/conf/config.toml': b'a = 1\n', '/data/bitcell/conf/peers.txt': b'p1\n'}),
    ('/etc/node.toml', {'/etc/node.toml': b'a = 1\n'}),
    ('/data/bitcell/conf/nope.toml', {}),
])
def test_config_paths_resolve_through_config_map_volumes(path, expected):
    located = evidence.config_map_files(POD_SPEC, path)
    assert located['name'] == 'node-config'
    assert evidence._volume_files(located, CONFIG_MAP) == expected


def test_a_path_outside_config_map_volumes_is_not_located():
    assert evidence.config_map_files(POD_SPEC, '/data/bitcell/db/state') is None


# --- collection against stand-in clients ------------------------------------------------------

class NotFound(Exception):
    pass


class FakeContainer:
    def __init__(self, name, env, running=True, files=None):
        self.name, self.id, self.files = name, 'id-' + name, files or {}
        self.attrs = {'Created': '2026-11-23T13:00:00.123456789Z', 'RestartCount': 2,
                      'Config': {'Env': env, 'Labels': {}},
                      'State': {'Status': 'running' if running else 'exited', 'Running': running, 'ExitCode': 0,
                                'OOMKilled': False, 'StartedAt': '2026-11-23T13:00:01Z'},
                      'HostConfig': {}}
        self.client = SimpleNamespace(events=lambda **kw: iter([{'status': 'start', 'id': self.id}]))
        self.log_calls = []

    def logs(self, **kwargs):
        self.log_calls.append(kwargs)
        return ('line 1\nprinting my token %s\nline 3\n' % TOKEN).encode()

    def stats(self, stream):
        return {'memory_stats': {'usage': 1}}

    def get_archive(self, path):
        if path not in self.files:
            raise NotFound(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode='w') as archive:
            info = tarfile.TarInfo(os.path.basename(path))
            info.size = len(self.files[path])
            archive.addfile(info, io.BytesIO(self.files[path]))
        return iter([buffer.getvalue()]), {}


@pytest.fixture
def docker_errors(monkeypatch):
    from ansible_collections.chainops.runbooks.plugins.module_utils import docker as backend
    monkeypatch.setattr(backend, 'docker', SimpleNamespace(errors=SimpleNamespace(NotFound=NotFound)),
                        raising=False)


def params(**overrides):
    base = dict(container=None, compose_service=None, compose_project=None, namespace=None, pod=None, workload=None,
                dest='/incident', label=None, tail_lines=1000, since=None, stats=True, config_paths=[],
                docker_host='unix:///var/run/docker.sock')
    base.update(overrides)
    return base


def test_collect_a_container(docker_errors):
    container = FakeContainer('n1', ['NODE_ID=n1', 'BITCELL_API_TOKEN=' + TOKEN],
                              files={'/data/bitcell/config.toml': b'node_id = "n1"\n'})

    def get(name):
        if name != 'n1':
            raise NotFound(name)
        return container
    client = SimpleNamespace(containers=SimpleNamespace(get=get))
    bundle = evidence.collect(params(container='n1', since='15m', tail_lines=50,
                                     config_paths=['/data/bitcell/config.toml', '/nope']), NOW, docker_client=client)
    assert bundle['bundle_dir'] == '/incident/n1/20261123T140102.123456Z'
    assert sorted(bundle['files']) == ['files/data/bitcell/config.toml', 'inspect.json', 'logs.txt',
                                       'manifest.json', 'stats.json']
    assert container.log_calls == [dict(tail=50, stdout=True, stderr=True, since=int(NOW.timestamp()) - 900)]
    assert bundle['summary'] == {'n1': dict(status='running', running=True, restart_count=2, exit_code=0,
                                            oom_killed=False, log_lines=3)}
    assert bundle['missing'] == [dict(member='n1', path='/nope', reason='no such file or directory')]
    assert all(TOKEN.encode() not in data for data in bundle['files'].values())
    inspect = json.loads(bundle['files']['inspect.json'])
    assert 'BITCELL_API_TOKEN=********' in inspect['container']['Config']['Env']
    assert inspect['events'] == [{'status': 'start', 'id': 'id-n1'}]
    assert bundle['secrets'] == {TOKEN}
    with pytest.raises(ChainopsError) as info:
        evidence.collect(params(container='n2'), NOW, docker_client=client)
    assert 'container=n2 does not exist' in info.value.msg


def test_a_compose_service_must_match_one_container(docker_errors):
    found = [FakeContainer('a', []), FakeContainer('b', [])]
    client = SimpleNamespace(containers=SimpleNamespace(list=lambda **kw: found))
    with pytest.raises(ChainopsError) as info:
        evidence.collect(params(compose_service='node'), NOW, docker_client=client)
    assert 'compose_service=node matches 2 containers (a, b)' in info.value.msg


class FakeKube:
    """Answers kube_backend calls by API function name from a dict of handlers."""

    api_client = None

    def __init__(self, handlers):
        self.handlers = handlers
        names = ['read_namespace', 'read_namespaced_pod', 'list_namespaced_pod', 'read_namespaced_config_map',
                 'list_namespaced_event', 'read_namespaced_pod_log', 'read_namespaced_stateful_set',
                 'read_namespaced_deployment']
        api = SimpleNamespace(**{n: SimpleNamespace(__name__=n) for n in names})
        self.core = self.apps = api

    def invoke(self, what, func, *args, **kwargs):
        handler = self.handlers.get(func.__name__)
        result = handler(*args, **kwargs) if handler else None
        if result is None:
            raise ChainopsError('%s: not found (HTTP 404)' % what, status=404)
        return result

    call = invoke

    def exists(self, what, func, *args, **kwargs):
        try:
            return self.call(what, func, *args, **kwargs)
        except ChainopsError:
            return None


def pod(name):
    return {'metadata': {'name': name, 'namespace': 'prod', 'labels': {'app': 'node'}},
            'spec': {'containers': [{'name': 'node', 'env': [{'name': 'NODE_TOKEN', 'value': TOKEN}],
                                     'volumeMounts': [{'name': 'cfg', 'mountPath': '/data/bitcell/conf'}]}],
                     'volumes': [{'name': 'cfg', 'configMap': {'name': 'node-config'}}]},
            'status': {'phase': 'Running', 'containerStatuses': [
                {'restartCount': 1, 'lastState': {'terminated': {'exitCode': 137, 'reason': 'OOMKilled'}}}]}}


def test_collect_every_pod_of_a_workload():
    workload = {'kind': 'StatefulSet', 'metadata': {'name': 'node', 'namespace': 'prod'},
                'spec': {'selector': {'matchLabels': {'app': 'node'}}, 'template': pod('t')}}
    log_calls = []

    def logs(name, namespace, **kwargs):
        log_calls.append((name, kwargs['tail_lines'], kwargs.get('since_seconds')))
        return SimpleNamespace(data=b'%s says %s\n' % (name.encode(), TOKEN.encode()))
    kube = FakeKube(dict(
        read_namespaced_stateful_set=lambda name, ns: workload if (name, ns) == ('node', 'prod') else None,
        list_namespaced_pod=lambda ns, label_selector: {'items': [pod('node-1'), pod('node-0')]},
        read_namespaced_config_map=lambda name, ns: CONFIG_MAP,
        list_namespaced_event=lambda ns, field_selector: {'items': [
            {'involvedObject': {'name': 'node-0', 'kind': 'Pod'}, 'reason': 'BackOff'},
            {'involvedObject': {'name': 'other', 'kind': 'Pod'}, 'reason': 'Pulled'}]},
        read_namespaced_pod_log=logs,
        read_namespace=lambda ns: {} if ns == 'prod' else None,
    ))
    kube_stats = evidence._pod_stats
    evidence._pod_stats = lambda *args: {'stats': None, 'error': 'no metrics API'}
    try:
        bundle = evidence.collect(params(namespace='prod', workload='sts/node', dest='/i', tail_lines=5, since='1m',
                                         config_paths=['/data/bitcell/conf/config.toml']), NOW, kube=kube)
    finally:
        evidence._pod_stats = kube_stats
    assert bundle['bundle_dir'] == '/i/node/20261123T140102.123456Z'
    assert sorted(bundle['files']) == [
        'inspect.json', 'manifest.json',
        'node-0/files/data/bitcell/conf/config.toml', 'node-0/inspect.json', 'node-0/logs.txt', 'node-0/stats.json',
        'node-1/files/data/bitcell/conf/config.toml', 'node-1/inspect.json', 'node-1/logs.txt', 'node-1/stats.json']
    assert sorted(log_calls) == [('node-0', 5, 60), ('node-1', 5, 60)]
    assert bundle['summary']['node-0'] == dict(status='Running', running=True, restart_count=1, exit_code=137,
                                               oom_killed=True, log_lines=1)
    assert all(TOKEN.encode() not in data for data in bundle['files'].values())
    pod_inspect = json.loads(bundle['files']['node-0/inspect.json'])
    assert [e['reason'] for e in pod_inspect['events']] == ['BackOff']
    assert pod_inspect['config_maps'] == {'node-config': CONFIG_MAP['data']}
    assert json.loads(bundle['files']['inspect.json'])['pods'] == ['node-0', 'node-1']
    with pytest.raises(ChainopsError) as info:
        evidence.collect(params(namespace='prod', workload='sts/nope'), NOW, kube=kube)
    assert info.value.msg.startswith('workload=sts/nope does not exist in namespace=prod')
    with pytest.raises(ChainopsError) as info:
        evidence.collect(params(namespace='qa', pod='node-0'), NOW, kube=kube)
    assert info.value.msg.startswith('namespace=qa does not exist')
