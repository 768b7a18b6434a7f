# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""k8s_workload / configmap_flag plans: the kubectl command, the request, and when nothing is due."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import kube
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.workload import (
    plan_configmap,
    plan_delete_pods,
    plan_env,
    plan_restart,
    plan_scale,
    plan_undo,
)


def template(image='chainops/blockchain-backend:2', env=None, annotations=None):
    meta = {'labels': {'app': 'backend'}}
    if annotations:
        meta['annotations'] = annotations
    return {'metadata': meta, 'spec': {'containers': [{'name': 'app', 'image': image, 'env': env or []}]}}


def deployment(replicas=2, tmpl=None, annotations=None):
    return {'kind': 'Deployment', 'metadata': {'name': 'backend', 'uid': 'u1', 'generation': 3,
                                               'annotations': annotations or {}},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': 'backend'}},
                     'template': tmpl or template()}}


def history(*images):
    entries = []
    for number, image in enumerate(images, 1):
        tmpl = template(image)
        tmpl['metadata']['labels']['pod-template-hash'] = 'h%d' % number
        entries.append({'revision': number, 'template': tmpl, 'hash': kube.template_hash(tmpl)})
    return entries


def test_restart_without_reason_always_restarts():
    plan = plan_restart('default', 'deployment', deployment(), None)
    assert plan.action == 'kubectl rollout restart deployment/backend -n default'
    assert list(plan.patch['spec']['template']['metadata']['annotations']) == [kube.RESTARTED_AT]


def test_restart_with_a_reason_is_done_once():
    plan = plan_restart('default', 'deployment', deployment(), 'INC-7')
    assert plan.patch['spec']['template']['metadata']['annotations'][kube.RESTART_REASON] == 'INC-7'
    restarted = deployment(tmpl=template(annotations={kube.RESTART_REASON: 'INC-7', kube.RESTARTED_AT: 't'}))
    again = plan_restart('default', 'deployment', restarted, 'INC-7')
    assert not again.changed and 'already restarted for restart_reason=INC-7' in again.msg
    assert plan_restart('default', 'deployment', restarted, 'INC-8').changed


def test_undo_goes_to_the_previous_distinct_template_and_only_once():
    revs = history('app:1', 'app:2')
    current = deployment(tmpl=template('app:2'))
    plan = plan_undo('default', 'deployment', current, revs, 0)
    assert plan.action == 'kubectl rollout undo deployment/backend -n default --to-revision=1'
    assert plan.content_type == kube.JSON_PATCH
    replaced = plan.patch[0]
    assert replaced['op'] == 'replace' and replaced['path'] == '/spec/template'
    assert replaced['value']['spec']['containers'][0]['image'] == 'app:1'
    assert 'pod-template-hash' not in replaced['value']['metadata']['labels']
    marker = plan.patch[1]['value'][kube.ROLLED_BACK_FROM]
    assert marker == kube.template_hash(template('app:2'))
    # After the undo the controller records app:1 as revision 3; "previous" is app:2 again, which we came from.
    rolled_back = deployment(tmpl=template('app:1'), annotations={kube.ROLLED_BACK_FROM: marker})
    revs_after = history('app:1', 'app:2')[1:] + [dict(history('app:1')[0], revision=3)]
    again = plan_undo('default', 'deployment', rolled_back, revs_after, 0)
    assert not again.changed and 'already rolled back' in again.msg


def test_undo_to_a_revision():
    revs = history('app:1', 'app:2', 'app:3')
    plan = plan_undo('default', 'deployment', deployment(tmpl=template('app:3')), revs, 1)
    assert plan.action.endswith('--to-revision=1')
    assert not plan_undo('default', 'deployment', deployment(tmpl=template('app:1')), revs, 1).changed
    with pytest.raises(ChainopsError) as info:
        plan_undo('default', 'deployment', deployment(), revs, 9)
    assert info.value.msg == ('to_revision=9 is not in the rollout history of deployment/backend -n default; '
                              'pick one of 1, 2, 3')


def test_undo_without_history_warns_and_changes_nothing():
    plan = plan_undo('default', 'deployment', deployment(tmpl=template('app:1')), history('app:1'), 0)
    assert not plan.changed and plan.warning == 'no rollout history to undo for deployment/backend -n default'


def test_scale_and_its_compare_and_swap_guard():
    plan = plan_scale('default', 'deployment', deployment(2), 4, None)
    assert plan.action == 'kubectl scale deployment/backend -n default --replicas=4'
    assert plan.scale == {'spec': {'replicas': 4}}
    assert not plan_scale('default', 'deployment', deployment(4), 4, None).changed
    with pytest.raises(ChainopsError) as info:
        plan_scale('default', 'deployment', deployment(2), 0, 3)
    assert info.value.msg.startswith('deployment/backend -n default has 2 replicas but current_replicas=3')


def test_set_env_sets_replaces_and_unsets_like_kubectl():
    workload = deployment(tmpl=template(env=[{'name': 'A', 'value': '1'}, {'name': 'B', 'value': 'x'},
                                             {'name': 'C', 'valueFrom': {'configMapKeyRef': {'name': 'c', 'key': 'k'}}}]))
    plan = plan_env('default', 'deployment', workload, None, {'A': '1', 'B': None, 'C': 'lit', 'D': 'new'})
    assert plan.action == 'kubectl set env deployment/backend -n default -c app B- C=lit D=new'
    assert plan.patch['spec']['template']['spec']['containers'] == [{'name': 'app', 'env': [
        {'name': 'B', '$patch': 'delete'}, {'name': 'C', 'value': 'lit', 'valueFrom': None},
        {'name': 'D', 'value': 'new'}]}]
    assert not plan_env('default', 'deployment', workload, 'app', {'A': '1', 'Z': None}).changed
    with pytest.raises(ChainopsError) as info:
        plan_env('default', 'deployment', workload, 'sidecar', {'A': '2'})
    assert info.value.msg == 'k8s_container=sidecar is not a container of this workload; pick one of app'


def pod(name, ready, deleting=False):
    meta = {'name': name}
    if deleting:
        meta['deletionTimestamp'] = 'now'
    return {'metadata': meta, 'status': {'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}}


def test_delete_pods_only_unready_by_default():
    pods = [pod('a', True), pod('b', False), pod('c', False, deleting=True)]
    plan = plan_delete_pods('default', 'app=backend', pods, True, 0)
    assert plan.delete == ['b'] and plan.action == 'kubectl delete pods -n default b --grace-period=0'
    assert plan_delete_pods('default', 'app=backend', pods, False, 30).delete == ['a', 'b']
    assert not plan_delete_pods('default', 'app=backend', pods[:1], True, 0).changed


def test_configmap_plan_is_a_merge_patch_of_what_differs():
    configmap = {'data': {'MAINTENANCE_MODE': 'false', 'FEATURE_X': 'true', 'OLD': '1'}}
    before = copy.deepcopy(configmap)
    plan = plan_configmap('default', 'app-config', configmap, {'FEATURE_X': 'false', 'MAINTENANCE_MODE': 'false'},
                          ['OLD', 'MISSING'])
    assert plan.patch == {'data': {'FEATURE_X': 'false', 'OLD': None}}
    assert plan.content_type == 'application/merge-patch+json'
    assert plan.action == 'kubectl patch configmap/app-config -n default --type merge (FEATURE_X=false OLD-)'
    assert configmap == before
    assert not plan_configmap('default', 'app-config', configmap, {'FEATURE_X': 'true'}, ['MISSING']).changed
