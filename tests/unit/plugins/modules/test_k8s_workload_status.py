# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""What k8s_workload reads for a diagnosis: pod details, containers and the rollout history."""

from __future__ import annotations

from ansible_collections.chainops.runbooks.plugins.modules import k8s_workload

UID = 'd-uid'


def pod(name, ready, template_hash, waiting=None, last_exit=None, ip='127.0.4.3'):
    status = {'name': 'app', 'restartCount': 1 if last_exit is not None else 0,
              'state': {'waiting': {'reason': waiting}} if waiting else {'running': {}}}
    if last_exit is not None:
        status['lastState'] = {'terminated': {'exitCode': last_exit}}
    return {'metadata': {'name': name, 'uid': name + '-uid', 'labels': {'app': 'x', 'pod-template-hash': template_hash}},
            'status': {'phase': 'Running' if ready else 'Pending', 'podIP': ip,
                       'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}],
                       'containerStatuses': [status]}}


def test_pod_details_tell_a_failed_pull_from_a_crash_loop():
    pulled = k8s_workload.pod_details(pod('a', False, 'h2', waiting='ImagePullBackOff'))
    crashed = k8s_workload.pod_details(pod('b', False, 'h1', waiting='CrashLoopBackOff', last_exit=2))
    healthy = k8s_workload.pod_details(pod('c', True, 'h1', ip='127.0.4.1'))
    assert (pulled['waiting_reason'], pulled['template_hash'], pulled['last_exit_code']) == ('ImagePullBackOff', 'h2', None)
    assert (crashed['waiting_reason'], crashed['last_exit_code'], crashed['restart_count']) == ('CrashLoopBackOff', 2, 1)
    assert (healthy['ready'], healthy['ip'], healthy['waiting_reason']) == (True, '127.0.4.1', None)


def test_containers_of_lists_images_and_limits():
    template = {'spec': {'containers': [
        {'name': 'app', 'image': 'chainops/blockchain-backend:v3', 'resources': {'limits': {'cpu': '500m'}}},
        {'name': 'side', 'image': 'busybox'}]}}
    assert k8s_workload.containers_of(template) == [
        {'name': 'app', 'image': 'chainops/blockchain-backend:v3', 'limits': {'cpu': '500m'}},
        {'name': 'side', 'image': 'busybox', 'limits': {}}]


class FakeKube:
    """Answers list_namespaced_replica_set with fixed ReplicaSets."""

    def __init__(self, items):
        self.apps = self
        self.items = items

    def list_namespaced_replica_set(self, namespace, label_selector):
        return {'items': self.items}

    def call(self, what, func, *args, **kwargs):
        return func(*args, **kwargs)


def replica_set(revision, template_hash, image, replicas, ready, owner=UID):
    return {'metadata': {'name': 'x-' + template_hash, 'creationTimestamp': '2026-11-23T17:0%d:00Z' % revision,
                         'annotations': {'deployment.kubernetes.io/revision': str(revision)},
                         'ownerReferences': [{'uid': owner}]},
            'spec': {'replicas': replicas, 'template': {'metadata': {'labels': {'pod-template-hash': template_hash}},
                                                        'spec': {'containers': [{'name': 'app', 'image': image}]}}},
            'status': {'readyReplicas': ready} if ready else {}}


def test_history_is_the_owned_replica_sets_oldest_first_with_their_readiness():
    workload = {'metadata': {'name': 'x', 'uid': UID}, 'spec': {'selector': {'matchLabels': {'app': 'x'}}}}
    kube = FakeKube([replica_set(2, 'h2', 'x:v3', 1, 0), replica_set(1, 'h1', 'x:lab', 2, 2),
                     replica_set(7, 'other', 'y:lab', 1, 1, owner='someone-else')])
    found = k8s_workload.history(kube, 'default', 'deployment', workload)
    assert [(h['revision'], h['template_hash'], h['images'], h['replicas'], h['ready_replicas']) for h in found] == [
        (1, 'h1', ['x:lab'], 2, 2), (2, 'h2', ['x:v3'], 1, 0)]
    assert found[1]['created'] == '2026-11-23T17:02:00Z'
    assert k8s_workload.history(kube, 'default', 'statefulset', workload) == []
