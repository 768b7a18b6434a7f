#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: k8s_workload
short_description: Restart, roll back, scale, set env, delete pods or toggle maintenance of a Kubernetes workload
version_added: 0.1.0
description:
  - Does what runbooks 002 (Phase 3 mitigation), 003 (recovery actions) and 004 (rollback) do with C(kubectl),
    through the Kubernetes API, on one Deployment or StatefulSet given as O(workload).
  - O(action=restart) is C(kubectl rollout restart). With O(restart_reason) the reason is stored in the pod template,
    so a rerun with the same reason (an incident id, say) changes nothing; without it every run restarts.
  - O(action=undo) is C(kubectl rollout undo) to O(to_revision), or to the newest earlier revision whose template
    differs. The workload remembers the template it was rolled back from, so running the same undo twice does not
    flip back again. Without an earlier revision it changes nothing and warns.
  - O(action=scale) is C(kubectl scale --replicas), with O(current_replicas) as a compare-and-swap guard.
  - O(action=set_env) is C(kubectl set env) (a V(null) value unsets the variable); O(action=maintenance) sets
    O(maintenance_env) to V(true) or V(false) the same way (runbook 002 "Enable Maintenance Mode").
  - O(action=delete_pods) is C(kubectl delete pods -l ...), by default only pods that are not Ready, so a rerun
    once the controller has replaced them changes nothing.
  - O(action=status) changes nothing and waits for C(kubectl rollout status). It also returns RV(history), the
    rollout history with the readiness of each revision, so a playbook can tell a failed deploy from a crash loop.
  - Every changing action passes the guardrails first (lock, circuit breaker, cooldown and, with O(fleet), quorum and
    max unavailable), keyed by the workload. With O(wait) it then waits for the rollout with one deadline.
  - Check mode reads the workload and returns the same RV(actions) the real run would take, changing nothing.
author:
  - chainops.runbooks maintainers (!UNKNOWN)
options:
  namespace:
    description: Namespace of the workload.
    type: str
    required: true
  workload:
    description: The workload as C(<kind>/<name>), kind V(deployment) (V(deploy)) or V(statefulset) (V(sts)).
    type: str
    required: true
  action:
    description: What to do.
    type: str
    required: true
    choices: [restart, undo, scale, set_env, maintenance, delete_pods, status]
  restart_reason:
    description: With O(action=restart), why; a workload already restarted for this reason is not restarted again.
    type: str
  to_revision:
    description: With O(action=undo), the revision to go back to; V(0) means the previous one.
    type: int
    default: 0
  replicas:
    description: With O(action=scale), the number of replicas wanted (V(0) stops every pod).
    type: int
  current_replicas:
    description: With O(action=scale), scale only if the workload has exactly this many replicas now.
    type: int
  env:
    description: With O(action=set_env), variables to set; a V(null) value removes the variable.
    type: dict
  k8s_container:
    description: Container whose environment to change; the first container of the pod template by default.
    type: str
  maintenance:
    description: With O(action=maintenance), whether maintenance mode should be on.
    type: bool
  maintenance_env:
    description: The environment variable the application reads to serve its maintenance response.
    type: str
    default: MAINTENANCE_MODE
  pod_selector:
    description:
      - With O(action=delete_pods), a label selector of the pods to delete; the workload's own selector by default.
    type: str
  only_unready:
    description: With O(action=delete_pods), delete only pods that are not Ready.
    type: bool
    default: true
  grace_period:
    description: With O(action=delete_pods), seconds each pod gets to stop (V(0) kills at once, like C(--force)).
    type: int
    default: 30
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.kube
  - chainops.runbooks.guardrails
  - chainops.runbooks.remediation
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: O(action=restart) without O(restart_reason) restarts on every run.
'''

EXAMPLES = r'''
- name: Roll back the backend after a bad deploy (runbook 004)
  chainops.runbooks.k8s_workload:
    namespace: default
    workload: deployment/blockchain-backend
    action: undo

- name: Restart the coordinator once for this incident (runbook 003)
  chainops.runbooks.k8s_workload:
    namespace: default
    workload: deployment/coordinator
    action: restart
    restart_reason: "{{ incident_id }}"

- name: Scale the backend out (runbook 002, option 2)
  chainops.runbooks.k8s_workload:
    namespace: default
    workload: deployment/blockchain-backend
    action: scale
    replicas: 4

- name: Disable a problematic feature (runbook 002, option 5)
  chainops.runbooks.k8s_workload:
    namespace: default
    workload: deployment/blockchain-backend
    action: set_env
    env:
      FEATURE_X_ENABLED: "false"

- name: Replace stuck coordinator pods
  chainops.runbooks.k8s_workload:
    namespace: default
    workload: deployment/coordinator
    action: delete_pods
    grace_period: 0
'''

RETURN = r'''
actions:
  description: The C(kubectl) commands this run took (in check mode, would take); empty when nothing was needed.
  type: list
  elements: str
  returned: always
  sample: ["kubectl rollout undo deployment/blockchain-backend -n default --to-revision=2"]
msg:
  description: What was done or why nothing was.
  type: str
  returned: always
rollout:
  description: The last C(kubectl rollout status) message.
  type: str
  returned: when the workload was read after the action
  sample: "rolled out: 2 of 2 replicas available"
before:
  description:
    - Replicas, generation, template hash and pods before the action.
    - Also C(ready_replicas), C(updated_replicas), C(rollout_done), C(revision) (the Deployment's revision
      annotation, V(null) for a StatefulSet) and C(containers) (C(name), C(image), C(limits) of each container of
      the pod template); each pod also has C(ip), C(template_hash) (its C(pod-template-hash) or
      C(controller-revision-hash) label), C(waiting_reason) (as C(kubectl get pods) shows it, for example
      V(CrashLoopBackOff) or V(ImagePullBackOff)) and C(last_exit_code).
  type: dict
  returned: always
  sample:
    replicas: 2
    ready_replicas: 1
    updated_replicas: 1
    rollout_done: false
    revision: "2"
    containers: [{name: app, image: "chainops/blockchain-backend:v3", limits: {cpu: 500m, memory: 128Mi}}]
    pods:
      - {name: blockchain-backend-5d8f-abcde, ready: false, ip: 127.0.4.3, template_hash: 5d8f,
         waiting_reason: ImagePullBackOff, last_exit_code: null, restart_count: 0, phase: Pending}
after:
  description: The same as RV(before), read again after the action (and the wait).
  type: dict
  returned: when not in check mode
guardrails:
  description: The guardrail decision, with the rule that refused and the numbers it used.
  type: dict
  returned: when the action would change something
history:
  description:
    - With O(action=status), the rollout history of a Deployment, oldest first, one item per ReplicaSet it owns.
    - C(revision), C(template_hash) (the C(pod-template-hash) of its pods), C(images), C(replicas),
      C(ready_replicas) and C(created) (the ReplicaSet's creation time, RFC 3339) of each.
    - Empty for a StatefulSet.
  type: list
  elements: dict
  returned: when O(action=status)
  sample:
    - {revision: 1, template_hash: cf0a88d23e, images: ["chainops/blockchain-backend:lab"], replicas: 2,
       ready_replicas: 2, created: "2026-11-23T17:01:57Z"}
    - {revision: 2, template_hash: 5d8f, images: ["chainops/blockchain-backend:v3"], replicas: 1,
       ready_replicas: 0, created: "2026-11-23T17:20:03Z"}
elapsed:
  description: Seconds the module spent, waits included.
  type: float
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend
from ansible_collections.chainops.runbooks.plugins.module_utils import workload as plans
from ansible_collections.chainops.runbooks.plugins.module_utils.remediation import (
    Remediation,
    remediation_argument_spec,
)


def pod_details(pod):
    """kube.pod_summary plus what tells a crash loop from a failed pull: address, template, waiting reason."""
    status = pod.get('status') or {}
    labels = pod['metadata'].get('labels') or {}
    statuses = status.get('containerStatuses') or []
    waiting = [(s.get('state') or {}).get('waiting') or {} for s in statuses]
    ended = [(s.get('lastState') or {}).get('terminated') or (s.get('state') or {}).get('terminated') or {}
             for s in statuses]
    summary = kube_backend.pod_summary(pod)
    summary.update(
        ip=status.get('podIP'),
        template_hash=labels.get('pod-template-hash') or labels.get('controller-revision-hash'),
        waiting_reason=next((w['reason'] for w in waiting if w.get('reason')), None),
        last_exit_code=next((t['exitCode'] for t in ended if t.get('exitCode') is not None), None),
    )
    return summary


def containers_of(template):
    return [dict(name=c['name'], image=c.get('image'), limits=dict((c.get('resources') or {}).get('limits') or {}))
            for c in (template.get('spec') or {}).get('containers') or []]


def snapshot(kube, namespace, kind, name):
    workload = kube_backend.read_workload(kube, namespace, kind, name)
    pods = kube_backend.workload_pods(kube, namespace, workload)
    status = workload.get('status') or {}
    done, message = kube_backend.rollout_status(workload)
    return workload, dict(
        replicas=workload['spec'].get('replicas', 1),
        ready_replicas=status.get('readyReplicas') or 0,
        updated_replicas=status.get('updatedReplicas') or 0,
        generation=workload['metadata'].get('generation'),
        revision=(workload['metadata'].get('annotations') or {}).get(kube_backend.REVISION),
        template_hash=kube_backend.template_hash(workload['spec']['template']),
        containers=containers_of(workload['spec']['template']),
        rollout=message,
        rollout_done=done,
        pods=[pod_details(p) for p in pods],
    ), pods


def history(kube, namespace, kind, workload):
    """The ReplicaSets of a Deployment, oldest revision first, with their readiness ([] for a StatefulSet)."""
    if kind != 'deployment':
        return []
    uid = workload['metadata']['uid']
    selector = kube_backend.selector_string(workload['spec']['selector'].get('matchLabels'))
    found = kube.call(kube_backend.describe(namespace, kind, workload['metadata']['name']) + ' history',
                      kube.apps.list_namespaced_replica_set, namespace, label_selector=selector)
    items = []
    for rs in found.get('items') or []:
        meta = rs['metadata']
        if not any(o.get('uid') == uid for o in meta.get('ownerReferences') or []):
            continue
        template = rs['spec'].get('template') or {}
        items.append(dict(
            revision=int((meta.get('annotations') or {}).get(kube_backend.REVISION, 0)),
            template_hash=((template.get('metadata') or {}).get('labels') or {}).get('pod-template-hash'),
            images=[c['image'] for c in containers_of(template)],
            replicas=rs['spec'].get('replicas', 0),
            ready_replicas=(rs.get('status') or {}).get('readyReplicas') or 0,
            created=meta.get('creationTimestamp'),
        ))
    return sorted(items, key=lambda item: item['revision'])


def make_plan(kube, params, kind, workload, pods):
    namespace, action = params['namespace'], params['action']
    if action == 'restart':
        return plans.plan_restart(namespace, kind, workload, params['restart_reason'])
    if action == 'undo':
        history = kube_backend.revisions(kube, namespace, kind, workload)
        return plans.plan_undo(namespace, kind, workload, history, params['to_revision'])
    if action == 'scale':
        return plans.plan_scale(namespace, kind, workload, params['replicas'], params['current_replicas'])
    if action == 'set_env':
        return plans.plan_env(namespace, kind, workload, params['k8s_container'], params['env'])
    if action == 'maintenance':
        return plans.plan_env(namespace, kind, workload, params['k8s_container'],
                              {params['maintenance_env']: 'true' if params['maintenance'] else 'false'})
    if action == 'delete_pods':
        if params['pod_selector']:
            pods = kube_backend.list_pods(kube, namespace, params['pod_selector'])
        selector = params['pod_selector'] or kube_backend.selector_string(workload['spec']['selector'].get(
            'matchLabels'))
        return plans.plan_delete_pods(namespace, selector, pods, params['only_unready'], params['grace_period'])
    return plans.Plan(msg='status only')


def apply_plan(kube, params, kind, name, plan):
    namespace = params['namespace']
    what = kube_backend.describe(namespace, kind, name)
    if plan.scale is not None:
        func = (kube.apps.patch_namespaced_deployment_scale if kind == 'deployment'
                else kube.apps.patch_namespaced_stateful_set_scale)
        kube.call(what, func, name, namespace, plan.scale, _content_type='application/merge-patch+json')
    elif plan.patch is not None:
        kube_backend.patch_workload(kube, namespace, kind, name, plan.patch, plan.content_type)
    for pod in plan.delete:
        kube.call('namespace=%s pod/%s' % (namespace, pod), kube.core.delete_namespaced_pod, pod, namespace,
                  grace_period_seconds=params['grace_period'])


def validate(params):
    required = {'scale': 'replicas', 'set_env': 'env', 'maintenance': 'maintenance'}
    needed = required.get(params['action'])
    if needed and params[needed] is None:
        raise ChainopsError('action=%s needs %s; give %s' % (params['action'], needed, needed))
    if params['replicas'] is not None and params['replicas'] < 0:
        raise ChainopsError('replicas=%d is not allowed; replicas must be >= 0' % params['replicas'])
    if params['to_revision'] < 0:
        raise ChainopsError('to_revision=%d is not allowed; to_revision must be >= 0 (0 = previous)'
                            % params['to_revision'])
    if params['grace_period'] < 0:
        raise ChainopsError('grace_period=%d is not allowed; grace_period must be >= 0 seconds' % params['grace_period'])
    if params['env'] is not None:
        bad = [k for k, v in params['env'].items() if v is not None and not isinstance(v, str)]
        if bad or not params['env']:
            raise ChainopsError('env=%r is not allowed; give a non-empty mapping of names to strings (quote numbers '
                                'and booleans) or null to unset' % (params['env'],))


def main():
    argument_spec = dict(
        namespace=dict(type='str', required=True),
        workload=dict(type='str', required=True),
        action=dict(type='str', required=True,
                    choices=['restart', 'undo', 'scale', 'set_env', 'maintenance', 'delete_pods', 'status']),
        restart_reason=dict(type='str'),
        to_revision=dict(type='int', default=0),
        replicas=dict(type='int'),
        current_replicas=dict(type='int'),
        env=dict(type='dict'),
        k8s_container=dict(type='str'),
        maintenance=dict(type='bool'),
        maintenance_env=dict(type='str', default='MAINTENANCE_MODE'),
        pod_selector=dict(type='str'),
        only_unready=dict(type='bool', default=True),
        grace_period=dict(type='int', default=30),
    )
    argument_spec.update(kube_backend.kube_argument_spec())
    argument_spec.update(remediation_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not kube_backend.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=kube_backend.KUBERNETES_IMPORT_ERROR)
    params = module.params
    remediation = Remediation(module)
    try:
        validate(params)
        kind, name = kube_backend.parse_workload('workload', params['workload'])
        kube = kube_backend.kube_client(params)
        workload, before, pods = snapshot(kube, params['namespace'], kind, name)
        plan = make_plan(kube, params, kind, workload, pods)
        if plan.warning:
            module.warn(plan.warning)
        result = dict(actions=[plan.action] if plan.changed else [], msg=plan.msg, before=before)
        if params['action'] == 'status':
            result['history'] = history(kube, params['namespace'], kind, workload)

        def wait():
            if params['wait']:
                result['rollout'] = kube_backend.wait_rollout(
                    kube, params['namespace'], kind, name, remediation.deadline_at, params['wait_sleep'])[1]

        def apply():
            apply_plan(kube, params, kind, name, plan)
            wait()

        if plan.changed:
            # The wait is part of the remediation: a rollout that never finishes counts for the circuit breaker.
            result['guardrails'] = remediation.guarded('%s/%s/%s' % (params['namespace'], kind, name),
                                                       params['action'], apply)
        elif params['action'] == 'status' and not module.check_mode:
            wait()
        if not module.check_mode:
            result['after'] = snapshot(kube, params['namespace'], kind, name)[1]
    except ChainopsError as exc:
        remediation.fail(exc)
    remediation.exit(changed=plan.changed, **result)


if __name__ == '__main__':
    main()
