# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Plans for Kubernetes workload actions (private API, pure functions).

Each ``plan_*`` takes what was read from the API and returns a ``Plan``: the
``kubectl`` command an operator would have typed (``action``), the request
that does the same (``patch`` / ``content_type`` / ``scale`` / ``delete``),
and ``changed``.  Check mode returns the plan; a real run applies it, so both
report the same actions.  ``None`` as a plan's action means nothing to do.
"""

from __future__ import annotations

import datetime

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend


class Plan:
    def __init__(self, action=None, patch=None, content_type=kube_backend.SMP, scale=None, delete=None, msg='',
                 warning=None):
        self.action = action
        self.patch = patch
        self.content_type = content_type
        self.scale = scale
        self.delete = delete or []
        self.msg = msg
        self.warning = warning

    @property
    def changed(self):
        return self.action is not None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _ref(namespace, kind, name):
    return '%s/%s -n %s' % (kind, name, namespace)


def plan_restart(namespace, kind, workload, reason):
    """A rollout restart; with ``reason``, a no-op when the template already carries that reason."""
    name = workload['metadata']['name']
    annotations = ((workload['spec']['template'].get('metadata') or {}).get('annotations') or {})
    if reason is not None and annotations.get(kube_backend.RESTART_REASON) == reason:
        return Plan(msg='%s was already restarted for restart_reason=%s at %s' % (
            _ref(namespace, kind, name), reason, annotations.get(kube_backend.RESTARTED_AT)))
    values = {kube_backend.RESTARTED_AT: _now()}
    if reason is not None:
        values[kube_backend.RESTART_REASON] = reason
    return Plan(action='kubectl rollout restart %s' % _ref(namespace, kind, name),
                patch={'spec': {'template': {'metadata': {'annotations': values}}}},
                msg='restarting %s' % _ref(namespace, kind, name))


def plan_undo(namespace, kind, workload, history, to_revision):
    """Go back to ``to_revision`` (0: the newest revision whose template differs from the current one).

    Rolling back to "previous" twice would flip between two templates, so the
    workload remembers the template it was rolled back from
    (``chainops.runbooks/rolled-back-from``) and a second undo is a no-op.
    """
    name = workload['metadata']['name']
    current = kube_backend.template_hash(workload['spec']['template'])
    if to_revision:
        matches = [e for e in history if e['revision'] == to_revision]
        if not matches:
            raise ChainopsError('to_revision=%d is not in the rollout history of %s; pick one of %s' % (
                to_revision, _ref(namespace, kind, name), ', '.join(str(e['revision']) for e in history) or 'none'))
        target = matches[0]
    else:
        older = [e for e in history if e['hash'] != current]
        if not older:
            return Plan(msg='%s has no earlier revision to roll back to' % _ref(namespace, kind, name),
                        warning='no rollout history to undo for %s' % _ref(namespace, kind, name))
        target = older[-1]
        if (workload['metadata'].get('annotations') or {}).get(kube_backend.ROLLED_BACK_FROM) == target['hash']:
            return Plan(msg='%s was already rolled back from the template of revision %d' % (
                _ref(namespace, kind, name), target['revision']))
    if target['hash'] == current:
        return Plan(msg='%s already runs the template of revision %d' % (
            _ref(namespace, kind, name), target['revision']))
    template = kube_backend.strip_controller_labels(target['template'])
    action = 'kubectl rollout undo %s --to-revision=%d' % (_ref(namespace, kind, name), target['revision'])
    patch = [{'op': 'replace', 'path': '/spec/template', 'value': template},
             {'op': 'add', 'path': '/metadata/annotations', 'value': dict(
                 workload['metadata'].get('annotations') or {}, **{kube_backend.ROLLED_BACK_FROM: current})}]
    return Plan(action=action, patch=patch, content_type=kube_backend.JSON_PATCH,
                msg='rolling %s back to revision %d' % (_ref(namespace, kind, name), target['revision']))


def plan_scale(namespace, kind, workload, replicas, current_replicas):
    name = workload['metadata']['name']
    now = workload['spec'].get('replicas', 1)
    if current_replicas is not None and current_replicas != now:
        raise ChainopsError('%s has %d replicas but current_replicas=%d; nothing was scaled (someone else may have '
                            'scaled it: re-read and retry)' % (_ref(namespace, kind, name), now, current_replicas))
    if now == replicas:
        return Plan(msg='%s already has %d replicas' % (_ref(namespace, kind, name), replicas))
    return Plan(action='kubectl scale %s --replicas=%d' % (_ref(namespace, kind, name), replicas),
                scale={'spec': {'replicas': replicas}},
                msg='scaling %s from %d to %d replicas' % (_ref(namespace, kind, name), now, replicas))


def plan_env(namespace, kind, workload, container_name, env):
    """Set (str) or unset (None) environment variables of one container, like ``kubectl set env``."""
    name = workload['metadata']['name']
    container = kube_backend.container_of(workload['spec']['template'], container_name, 'k8s_container')
    current = {e['name']: e for e in container.get('env') or []}
    items, words = [], []
    for key in sorted(env):
        value = env[key]
        if value is None:
            if key in current:
                items.append({'name': key, '$patch': 'delete'})
                words.append('%s-' % key)
        elif current.get(key) != {'name': key, 'value': value}:
            # A valueFrom entry is replaced by the literal value, as `kubectl set env` does.
            items.append({'name': key, 'value': value, 'valueFrom': None} if 'valueFrom' in current.get(key, {})
                         else {'name': key, 'value': value})
            words.append('%s=%s' % (key, value))
    if not items:
        return Plan(msg='%s container %s already has that environment' % (
            _ref(namespace, kind, name), container['name']))
    return Plan(action='kubectl set env %s -c %s %s' % (_ref(namespace, kind, name), container['name'], ' '.join(words)),
                patch={'spec': {'template': {'spec': {'containers': [{'name': container['name'], 'env': items}]}}}},
                msg='changing %s of %s' % (', '.join(w.rstrip('-').split('=')[0] for w in words),
                                           _ref(namespace, kind, name)))


def plan_delete_pods(namespace, selector, pods, only_unready, grace_period):
    """Delete the selected pods (only those not Ready, by default) so their controller recreates them."""
    victims = [p['metadata']['name'] for p in pods
               if not p['metadata'].get('deletionTimestamp') and not (only_unready and kube_backend.pod_ready(p))]
    if not victims:
        return Plan(msg='no pod matching %s in namespace %s needs deleting (%d matched%s)' % (
            selector, namespace, len(pods), ', all Ready' if only_unready and pods else ''))
    return Plan(action='kubectl delete pods -n %s %s --grace-period=%d' % (namespace, ' '.join(victims), grace_period),
                delete=victims, msg='deleting %d pod(s): %s' % (len(victims), ', '.join(victims)))


def plan_configmap(namespace, name, configmap, set_values, unset):
    """Set and unset keys of a ConfigMap's data (merge patch)."""
    data = configmap.get('data') or {}
    changes, words = {}, []
    for key in sorted(set_values or {}):
        if data.get(key) != set_values[key]:
            changes[key] = set_values[key]
            words.append('%s=%s' % (key, set_values[key]))
    for key in sorted(unset or []):
        if key in data:
            changes[key] = None
            words.append('%s-' % key)
    if not changes:
        return Plan(msg='configmap/%s -n %s already has those keys' % (name, namespace))
    return Plan(action='kubectl patch configmap/%s -n %s --type merge (%s)' % (name, namespace, ' '.join(words)),
                patch={'data': changes}, content_type='application/merge-patch+json',
                msg='changing %s of configmap/%s -n %s' % (', '.join(sorted(changes)), name, namespace))
