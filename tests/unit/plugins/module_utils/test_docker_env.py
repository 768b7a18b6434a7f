# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker backend: the environment plan, secret redaction and the recreate request (node_env)."""

from __future__ import annotations

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import docker as backend
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.modules import node_env

ENV = ['NODE_ID=n1', 'BOOTSTRAP_NODES=127.0.9.1:30301', 'BITCELL_DATA_DIR=/data/bitcell']


def test_same_env_is_no_change_and_keeps_the_list():
    new, before, after = backend.plan_container_env(ENV, {'NODE_ID': 'n1'})
    assert new == ENV and before == after == {'NODE_ID': 'n1'}


def test_changed_variable_keeps_its_place_and_new_ones_go_last():
    new, before, after = backend.plan_container_env(ENV, {'BOOTSTRAP_NODES': 'a:1,b:2', 'A_NEW': 'x'})
    assert new == ['NODE_ID=n1', 'BOOTSTRAP_NODES=a:1,b:2', 'BITCELL_DATA_DIR=/data/bitcell', 'A_NEW=x']
    assert before == {'BOOTSTRAP_NODES': '127.0.9.1:30301', 'A_NEW': None}
    assert after == {'BOOTSTRAP_NODES': 'a:1,b:2', 'A_NEW': 'x'}


def test_null_unsets_and_unsetting_a_missing_variable_is_no_change():
    new, before, after = backend.plan_container_env(ENV, {'NODE_ID': None})
    assert new == ENV[1:] and before == {'NODE_ID': 'n1'} and after == {'NODE_ID': None}
    new, before, after = backend.plan_container_env(ENV, {'MISSING': None})
    assert new == ENV and before == after


def test_value_with_equals_signs_round_trips():
    new, before, after = backend.plan_container_env(['OPTS=a=b'], {'OPTS': 'a=b'})
    assert before == after and new == ['OPTS=a=b']


@pytest.mark.parametrize('name', ['API_TOKEN', 'db_dsn', 'ADMIN_PASSWORD', 'JWT_SECRET', 'PRIVATE_KEY', 'AUTH'])
def test_secret_looking_names_are_redacted(name):
    assert backend.secret_env_name(name)
    assert backend.redact_env({name: 's3cr3t', 'REGION': 'us-east', 'GONE_TOKEN': None}) == {
        name: backend.REDACTED, 'REGION': 'us-east', 'GONE_TOKEN': None}


def test_action_words_redact_secrets():
    assert node_env.words({'API_TOKEN': 'abc', 'REGION': 'eu', 'OLD': None}) == 'API_TOKEN=******** OLD- REGION=eu'


@pytest.mark.parametrize('env, text', [
    ({}, 'no variables'),
    ({'PORT': 8545}, 'non-string values for PORT'),
    ({'A=B': 'x'}, "invalid names 'A=B'"),
])
def test_bad_env_names_the_problem(env, text):
    with pytest.raises(ChainopsError) as err:
        node_env.validate_env(env)
    assert text in err.value.msg and 'quote numbers' in err.value.msg


INSPECT = {
    'Id': 'abcdef0123456789',
    'Image': 'sha256:1111',
    'Config': {'Hostname': 'n1', 'Image': 'chainops/bitcell-node:lab', 'Cmd': ['run'], 'Env': ENV,
               'Labels': {'com.docker.compose.service': 'node-n1'}, 'Entrypoint': ['/usr/local/bin/bitcell-node']},
    'HostConfig': {'NetworkMode': 'host', 'Binds': ['/srv/n1:/data/bitcell:rw'], 'NanoCpus': 10 ** 9,
                   'Memory': 256 << 20, 'RestartPolicy': {'Name': 'on-failure', 'MaximumRetryCount': 0}},
    'NetworkSettings': {'Networks': {'host': {'Aliases': None}}},
}


def test_recreate_body_changes_only_the_env():
    body, extra = backend.recreate_body(INSPECT, ['NODE_ID=n1'])
    assert body['Env'] == ['NODE_ID=n1']
    assert body['HostConfig'] == INSPECT['HostConfig']
    for key in ('Hostname', 'Image', 'Cmd', 'Labels', 'Entrypoint'):
        assert body[key] == INSPECT['Config'][key]
    assert body['NetworkingConfig'] == {'EndpointsConfig': {'host': {}}} and extra == {}
    assert INSPECT['Config']['Env'] == ENV  # the inspect data is not modified


def test_recreate_body_pins_the_image_and_connects_extra_networks_later():
    attrs = dict(INSPECT, HostConfig={'NetworkMode': 'front'}, NetworkSettings={'Networks': {
        'front': {'Aliases': ['web', 'abcdef012345'], 'IPAMConfig': None},
        'back': {'Aliases': ['db'], 'Links': None}}})
    body, extra = backend.recreate_body(attrs, ENV, image='sha256:1111')
    assert body['Image'] == 'sha256:1111'
    assert body['NetworkingConfig'] == {'EndpointsConfig': {'front': {'Aliases': ['web']}}}
    assert extra == {'back': {'Aliases': ['db']}}
