# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Kubernetes backend (private API): one client, workloads as plain dicts.

Connection options resolve as option -> environment variable -> kubeconfig
default, and errors name the option to change.  Twin of
``doc_fragments/kube.py``.  Every read returns the API object as the JSON the
server sent (camelCase keys), so plans compare what ``kubectl get -o json``
would show.  Every API failure becomes a ``ChainopsError`` that names the
namespace and the object.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError

try:
    import kubernetes
    import kubernetes.client
    import kubernetes.config
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

KINDS = {'deployment': 'deployment', 'deploy': 'deployment', 'deployments': 'deployment',
         'statefulset': 'statefulset', 'sts': 'statefulset', 'statefulsets': 'statefulset'}
RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
RESTART_REASON = 'chainops.runbooks/restart-reason'
ROLLED_BACK_FROM = 'chainops.runbooks/rolled-back-from'
REVISION = 'deployment.kubernetes.io/revision'
SMP = 'application/strategic-merge-patch+json'
JSON_PATCH = 'application/json-patch+json'


def kube_argument_spec():
    """Connection options shared by every module that talks to a Kubernetes API."""
    return dict(
        kubeconfig=dict(type='path', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG', 'KUBECONFIG'])),
        context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
        host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
        api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
        ca_cert=dict(type='path', fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
        validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
        request_timeout=dict(type='float', default=30.0),
    )


class Kube:
    """The typed APIs of one ApiClient, with errors turned into ChainopsError."""

    def __init__(self, api_client, request_timeout):
        self.api_client = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.apps = kubernetes.client.AppsV1Api(api_client)
        self.timeout = request_timeout

    def invoke(self, what, func, *args, **kwargs):
        """Run one API call as the client returns it; ``what`` names the object in errors."""
        kwargs.setdefault('_request_timeout', self.timeout)
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            raise ChainopsError('%s: %s' % (what, _api_reason(exc)), status=exc.status)
        except (HTTPError, OSError) as exc:
            raise ChainopsError('%s: the Kubernetes API is not reachable (%s); check kubeconfig, context or host'
                                % (what, type(exc).__name__))

    def call(self, what, func, *args, **kwargs):
        """Run one API call and return the server's JSON as it came (camelCase keys).

        The raw body is parsed here rather than by the client's models, whose
        strict validation would reject fields a newer server adds.
        """
        response = self.invoke(what, func, *args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.data)
        except ValueError:
            raise ChainopsError('%s: the Kubernetes API answered something that is not JSON' % what)

    def exists(self, what, func, *args, **kwargs):
        """The object, or None when the API answers 404."""
        try:
            return self.call(what, func, *args, **kwargs)
        except ChainopsError as exc:
            if exc.details.get('status') == 404:
                return None
            raise


def _api_reason(exc):
    try:
        body = json.loads(exc.body)
        return '%s (HTTP %s %s)' % (body.get('message') or exc.reason, exc.status, body.get('reason') or '')
    except (TypeError, ValueError):
        return 'HTTP %s %s' % (exc.status, exc.reason)


def kube_client(params):
    """A Kube for the module's connection options, or ChainopsError naming the option."""
    if params['request_timeout'] <= 0:
        raise ChainopsError('request_timeout=%s is not allowed; request_timeout must be > 0 seconds'
                            % params['request_timeout'])
    configuration = kubernetes.client.Configuration()
    try:
        if params['host'] and not params['kubeconfig']:
            configuration.host = params['host']
        else:
            kubernetes.config.load_kube_config(config_file=params['kubeconfig'], context=params['context'],
                                               client_configuration=configuration, persist_config=False)
    except (kubernetes.config.ConfigException, OSError, TypeError, ValueError) as exc:
        raise ChainopsError('kubeconfig=%s (context=%s) cannot be loaded: %s; set kubeconfig (or KUBECONFIG) to a '
                            'readable kubeconfig, or host and api_key'
                            % (params['kubeconfig'] or '~/.kube/config', params['context'] or 'current', exc))
    if params['host']:
        configuration.host = params['host']
    if params['api_key']:
        configuration.api_key = {'authorization': 'Bearer ' + params['api_key']}
    if params['ca_cert']:
        configuration.ssl_ca_cert = params['ca_cert']
    configuration.verify_ssl = params['validate_certs']
    return Kube(kubernetes.client.ApiClient(configuration), params['request_timeout'])


def parse_workload(name, value):
    """``statefulset/x`` (or ``sts/x``, ``deployment/x``, ``deploy/x``) -> (kind, name)."""
    kind, sep, workload = (value or '').partition('/')
    if not sep or kind.lower() not in KINDS or not workload or '/' in workload:
        raise ChainopsError('%s=%r is not allowed; give <kind>/<name> with kind deployment (deploy) or statefulset '
                            '(sts), e.g. statefulset/bitcell-node-us-west' % (name, value))
    return KINDS[kind.lower()], workload


def describe(namespace, kind, name):
    return 'namespace=%s %s/%s' % (namespace, kind, name)


def read_namespace(kube, namespace):
    """ChainopsError unless the namespace exists (so a typo is named as such, not as a missing workload)."""
    if kube.exists('namespace=%s' % namespace, kube.core.read_namespace, namespace) is None:
        raise ChainopsError('namespace=%s does not exist; pick an existing namespace' % namespace)


def read_workload(kube, namespace, kind, name):
    what = describe(namespace, kind, name)
    func = kube.apps.read_namespaced_deployment if kind == 'deployment' else kube.apps.read_namespaced_stateful_set
    found = kube.exists(what, func, name, namespace)
    if found is None:
        read_namespace(kube, namespace)
        raise ChainopsError('%s does not exist; pick an existing %s' % (what, kind))
    return found


def patch_workload(kube, namespace, kind, name, body, content_type=SMP):
    func = kube.apps.patch_namespaced_deployment if kind == 'deployment' else kube.apps.patch_namespaced_stateful_set
    return kube.call(describe(namespace, kind, name), func, name, namespace, body, _content_type=content_type)


def selector_string(match_labels):
    return ','.join('%s=%s' % item for item in sorted((match_labels or {}).items()))


def list_pods(kube, namespace, selector):
    found = kube.call('namespace=%s pods -l %s' % (namespace, selector), kube.core.list_namespaced_pod, namespace,
                      label_selector=selector)
    return sorted(found.get('items') or [], key=lambda p: p['metadata']['name'])


def workload_pods(kube, namespace, workload):
    return list_pods(kube, namespace, selector_string(workload['spec']['selector'].get('matchLabels')))


def pod_ready(pod):
    return any(c.get('type') == 'Ready' and c.get('status') == 'True'
               for c in (pod.get('status') or {}).get('conditions') or [])


def pod_summary(pod):
    """What ``kubectl get pod`` shows, as data."""
    statuses = (pod.get('status') or {}).get('containerStatuses') or []
    return dict(
        name=pod['metadata']['name'],
        uid=pod['metadata'].get('uid'),
        phase=(pod.get('status') or {}).get('phase'),
        ready=pod_ready(pod),
        deleting=bool(pod['metadata'].get('deletionTimestamp')),
        restart_count=sum(s.get('restartCount') or 0 for s in statuses),
        started_at=(pod.get('status') or {}).get('startTime'),
    )


def rollout_status(workload):
    """(done, message) as ``kubectl rollout status`` decides it, from one read of the workload."""
    spec, status, meta = workload['spec'], workload.get('status') or {}, workload['metadata']
    replicas = spec.get('replicas', 1)
    if (status.get('observedGeneration') or 0) < (meta.get('generation') or 0):
        return False, 'waiting for the controller to observe generation %s' % meta.get('generation')
    updated, ready = status.get('updatedReplicas') or 0, status.get('readyReplicas') or 0
    if workload.get('kind') == 'StatefulSet' or 'updateRevision' in status or 'currentRevision' in status:
        if ready < replicas:
            return False, '%d of %d pods ready' % (ready, replicas)
        if status.get('updateRevision') != status.get('currentRevision'):
            return False, '%d of %d pods updated to revision %s' % (updated, replicas, status.get('updateRevision'))
        return True, 'rolled out: %d of %d pods ready at revision %s' % (ready, replicas, status.get('currentRevision'))
    available, total = status.get('availableReplicas') or 0, status.get('replicas') or 0
    if updated < replicas:
        return False, '%d of %d updated replicas' % (updated, replicas)
    if total > updated:
        return False, '%d old replicas pending termination' % (total - updated)
    if available < updated:
        return False, '%d of %d updated replicas available' % (available, updated)
    return True, 'rolled out: %d of %d replicas available' % (available, replicas)


def wait_rollout(kube, namespace, kind, name, deadline_at, sleep_s, clock=time.monotonic, sleep=time.sleep):
    """Poll until the rollout is done; ChainopsError with the last status at the deadline."""
    while True:
        workload = read_workload(kube, namespace, kind, name)
        done, message = rollout_status(workload)
        if done:
            return workload, message
        if clock() >= deadline_at:
            raise ChainopsError('%s: rollout not done before wait_timeout: %s'
                                % (describe(namespace, kind, name), message), rollout=message)
        sleep(min(sleep_s, max(0.0, deadline_at - clock())))


def strip_controller_labels(template):
    """A copy of a pod template without the labels controllers add to it (pod-template-hash...)."""
    clean = copy.deepcopy(template or {})
    labels = (clean.get('metadata') or {}).get('labels') or {}
    for key in ('pod-template-hash', 'controller-revision-hash'):
        labels.pop(key, None)
    return clean


def template_hash(template):
    """A stable digest of a pod template as its workload declares it."""
    text = json.dumps(strip_controller_labels(template), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def revisions(kube, namespace, kind, workload):
    """Rollout history, oldest first: ``[{revision, template, hash}]`` (ReplicaSets or ControllerRevisions)."""
    uid, selector = workload['metadata']['uid'], selector_string(workload['spec']['selector'].get('matchLabels'))
    what = describe(namespace, kind, workload['metadata']['name']) + ' history'
    history = []
    if kind == 'deployment':
        found = kube.call(what, kube.apps.list_namespaced_replica_set, namespace, label_selector=selector)
        for rs in found.get('items') or []:
            if not any(o.get('uid') == uid for o in rs['metadata'].get('ownerReferences') or []):
                continue
            number = int((rs['metadata'].get('annotations') or {}).get(REVISION, 0))
            history.append(dict(revision=number, template=rs['spec']['template']))
    else:
        found = kube.call(what, kube.apps.list_namespaced_controller_revision, namespace, label_selector=selector)
        for rev in found.get('items') or []:
            if not any(o.get('uid') == uid for o in rev['metadata'].get('ownerReferences') or []):
                continue
            template = ((rev.get('data') or {}).get('spec') or {}).get('template') or {}
            template = {k: v for k, v in template.items() if k != '$patch'}
            history.append(dict(revision=rev['revision'], template=template))
    for entry in history:
        entry['hash'] = template_hash(entry['template'])
    return sorted(history, key=lambda e: e['revision'])


def container_of(template, name, option='container'):
    """The named container of a pod template (the first one when name is None)."""
    containers = template['spec']['containers']
    if name is None:
        return containers[0]
    for container in containers:
        if container['name'] == name:
            return container
    raise ChainopsError('%s=%s is not a container of this workload; pick one of %s'
                        % (option, name, ', '.join(c['name'] for c in containers)))
