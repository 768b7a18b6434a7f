#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: node_env
short_description: Set environment variables of a node, recreating its container (docker) or rolling its pods (Kubernetes)
version_added: 0.1.0
description:
  - Runbook 000 "No Peers / Network Isolation" (C(docker-compose down node-us-east-1), edit C(BOOTSTRAP_NODES) in
    docker-compose.yml, C(docker-compose up -d node-us-east-1)) as one idempotent task that also proves the node
    came back.
  - For a docker node (O(container) or O(compose_service)) the container is recreated from its own C(docker inspect)
    data, so image, command, entrypoint, mounts, network mode, labels, restart policy, resource limits, log
    configuration and every other setting stay the same; only the variables in O(env) change. The old container is
    stopped and kept until the new one runs; if the new one cannot be created or started, or does not become
    healthy before O(wait_timeout), the old one is put back and the task fails.
  - For Kubernetes (O(namespace) with O(workload), or with O(pod) meaning the workload that owns it) the pod template's
    environment is patched (C(kubectl set env)), which rolls the pods out; with O(wait) it waits for the rollout.
  - Compares the variables wanted with the ones set and changes nothing when they match, so a rerun reports
    C(changed=false). Other variables are never read back into the result.
  - Values of variables whose name looks secret (containing TOKEN, KEY, PASSWORD, PASSWD, SECRET, DSN, CREDENTIAL,
    AUTH, PRIVATE or CERT) are replaced by C(********) in RV(before), RV(after), RV(actions) and the diff.
  - A change passes the guardrails first (lock, circuit breaker, cooldown and, with O(fleet), quorum and max
    unavailable) keyed by O(name); then, with O(wait), the module waits until the node is running, O(health_url)
    answers 2xx and, with O(wait_for=progressing), its height on O(rpc_url) grows.
  - Check mode reads the same state and returns the same RV(actions), RV(before), RV(after) and guardrail decision,
    changing nothing.
author:
  - chainops.runbooks maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the node in O(fleet) and in the guardrail state; usually C(inventory_hostname).
      - Defaults to the container, pod or workload name.
    type: str
  env:
    description:
      - Variables to set (string values; quote numbers and booleans), or to remove (V(null)).
      - Variables not named here are left as they are.
    type: dict
    required: true
  k8s_container:
    description: Container of the pod template whose environment changes; the first one by default.
    type: str
  health_url:
    description: The node's health endpoint (C(http://<ip>:<metrics_port>/health)); 2xx means healthy.
    type: str
  rpc_url:
    description: The node's JSON-RPC endpoint, to see the height grow with O(wait_for=progressing).
    type: str
  probe_timeout:
    description: Seconds each request to O(health_url) or O(rpc_url) may take.
    type: float
    default: 3.0
  wait_for:
    description:
      - What "back" means after the change. V(healthy) - running (rolled out) and O(health_url) 2xx.
        V(progressing) - also a height on O(rpc_url) that grows.
    type: str
    choices: [healthy, progressing]
    default: healthy
  stop_timeout:
    description: Seconds docker gives the old container to stop before it is killed.
    type: int
    default: 10
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.target
  - chainops.runbooks.docker
  - chainops.runbooks.kube
  - chainops.runbooks.guardrails
  - chainops.runbooks.remediation
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Point an isolated node at the right bootstrap nodes (runbook 000, No Peers)
  chainops.runbooks.node_env:
    name: "{{ inventory_hostname }}"
    container: bitcell-node-us-east-1
    env:
      BOOTSTRAP_NODES: 127.0.1.2:30302,127.0.1.3:30303,127.0.2.1:30304
    health_url: "{{ chainops_health_url }}"

- name: Remove a variable from the us-west StatefulSet and wait for the rollout
  chainops.runbooks.node_env:
    namespace: bitcell-production
    workload: statefulset/bitcell-node-us-west
    env:
      DEBUG_P2P: null
    kubeconfig: "{{ chainops_kubeconfig }}"
'''

RETURN = r'''
actions:
  description: The command this run took (in check mode, would take), secrets redacted; empty when nothing changed.
  type: list
  elements: str
  returned: always
  sample: ["docker-compose up -d (recreate container bitcell-node-us-east-1 with BOOTSTRAP_NODES=127.0.1.2:30302)"]
msg:
  description: What was done or why nothing was.
  type: str
  returned: always
runtime:
  description: Where the node runs, V(docker) or V(kubernetes).
  type: str
  returned: always
before:
  description: The variables named in O(env) as they were (V(null) when unset), secrets redacted.
  type: dict
  returned: always
  sample: {"BOOTSTRAP_NODES": "127.0.9.1:30301"}
after:
  description: The same variables after the change (in check mode, as they would be), secrets redacted.
  type: dict
  returned: always
changed_keys:
  description: Names of the variables that differ between RV(before) and RV(after).
  type: list
  elements: str
  returned: always
health:
  description: The node's health once it was back (C({healthy, health, height})).
  type: dict
  returned: when the environment was changed and O(wait) is true
guardrails:
  description: The guardrail decision, with the rule that refused and the numbers it used.
  type: dict
  returned: when the environment changes
elapsed:
  description: Seconds the module spent, the wait included.
  type: float
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import docker as docker_backend
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend
from ansible_collections.chainops.runbooks.plugins.module_utils.remediation import (
    Remediation,
    remediation_argument_spec,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.runtime import (
    HEALTH_WAIT_REQUIRED_IF,
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_REQUIRED_BY,
    TARGET_REQUIRED_ONE_OF,
    back_check,
    check_health_wait,
    health_wait_argument_spec,
    node_argument_spec,
    node_health,
    runtime_target,
    wait_until,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.workload import plan_env


def validate_env(env):
    """ChainopsError unless env is a non-empty mapping of names to strings or None."""
    bad = sorted(k for k, v in env.items() if v is not None and not isinstance(v, str))
    names = sorted(k for k in env if not k or '=' in k)
    if not env or bad or names:
        raise ChainopsError('env has %s; give a non-empty mapping of variable names (no "=") to strings (quote '
                            'numbers and booleans) or null to unset' % (
                                'no variables' if not env else 'non-string values for %s' % ', '.join(bad) if bad
                                else 'invalid names %s' % ', '.join(repr(n) for n in names)))


def words(env):
    """``K=V`` / ``K-`` words for an action line, secrets redacted."""
    shown = docker_backend.redact_env(env)
    return ' '.join('%s-' % k if shown[k] is None else '%s=%s' % (k, shown[k]) for k in sorted(shown))


def kube_env(template, container_name, names):
    container = kube_backend.container_of(template, container_name, 'k8s_container')
    current = dict((e['name'], e) for e in container.get('env') or [])
    return dict((k, None if k not in current else current[k].get('value', '<valueFrom>')) for k in names)


def main():
    argument_spec = node_argument_spec()
    argument_spec.update(env=dict(type='dict', required=True))
    argument_spec.update(health_wait_argument_spec('healthy'))
    argument_spec.update(remediation_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE, required_one_of=TARGET_REQUIRED_ONE_OF,
                           required_by=TARGET_REQUIRED_BY, required_if=HEALTH_WAIT_REQUIRED_IF)
    params = module.params
    env = params['env'] or {}
    # Secret values never reach the invocation log, results or diff.
    for key, value in env.items():
        if value and docker_backend.secret_env_name(key):
            module.no_log_values.add(value)
    remediation = Remediation(module)
    try:
        validate_env(env)
        check_health_wait(params)
        target = runtime_target(params)
        name = params['name'] or target.name
        if target.runtime == 'docker':
            target.container.reload()
            env_list, before, after = docker_backend.plan_container_env(
                (target.container.attrs.get('Config') or {}).get('Env'), env)
            kind = workload_name = plan = None
        else:
            kind, workload_name = target.resource_owner()
            workload = kube_backend.read_workload(target.kube, params['namespace'], kind, workload_name)
            before = kube_env(workload['spec']['template'], params['k8s_container'], env)
            after = dict(env)
            plan = plan_env(params['namespace'], kind, workload, params['k8s_container'], env)
        changed_keys = sorted(k for k in env if before[k] != after[k])
        result = dict(runtime=target.runtime, before=docker_backend.redact_env(before),
                      after=docker_backend.redact_env(after), changed_keys=changed_keys, actions=[])
        if module._diff:
            result['diff'] = dict(before=result['before'], after=result['after'])
        if not changed_keys:
            remediation.exit(changed=False, msg='%s already has %s' % (name, words(env)), **result)
        changes = dict((k, env[k]) for k in changed_keys)
        if target.runtime == 'docker':
            result['actions'] = ['docker-compose up -d (recreate container %s with %s)' % (target.name, words(changes))]
        else:
            result['actions'] = ['kubectl set env %s/%s -n %s -c %s %s' % (
                kind, workload_name, params['namespace'],
                kube_backend.container_of(workload['spec']['template'], params['k8s_container'],
                                          'k8s_container')['name'], words(changes))]
        result['msg'] = 'changing %s of %s' % (', '.join(changed_keys), name)

        def observe():
            health = node_health(params['health_url'], params['rpc_url'], params['probe_timeout'],
                                 params['validate_certs'])
            result['health'] = health
            if target.runtime == 'docker':
                target.container.reload()
                return dict(health, running=bool(target.container.attrs['State'].get('Running')))
            return dict(health, running=True)  # the rollout wait already saw the pods ready

        def healthy():
            return back_check(observe, lambda state: state['running'] and state['healthy'] is not False,
                              params['wait_for'])

        def not_back():
            health = result.get('health') or {}
            return '%s did not come back before wait_timeout=%s after changing %s: health %s, height %s' % (
                name, params['wait_timeout'], ', '.join(changed_keys), health.get('health'), health.get('height'))

        def apply_docker():
            old_name = target.container.name
            new, old = docker_backend.replace_container(target.client, target.container, env_list,
                                                        params['stop_timeout'])
            target.container = new
            if params['wait'] and not wait_until(healthy(), remediation.deadline_at, params['wait_sleep']):
                message = not_back()
                docker_backend.restore_replaced(target.client, new, old, old_name)
                raise ChainopsError(message + '; the previous container was put back', health=result.get('health'))
            docker_backend.discard_replaced(old)

        def apply_kube():
            kube_backend.patch_workload(target.kube, params['namespace'], kind, workload_name, plan.patch,
                                        plan.content_type)
            if params['wait']:
                kube_backend.wait_rollout(target.kube, params['namespace'], kind, workload_name,
                                          deadline_at=remediation.deadline_at, sleep_s=params['wait_sleep'])
                if not wait_until(healthy(), remediation.deadline_at, params['wait_sleep']):
                    raise ChainopsError(not_back(), health=result.get('health'))

        result['guardrails'] = remediation.guarded(name, 'env', apply_docker if target.runtime == 'docker'
                                                   else apply_kube)
        if not module.check_mode:
            result['msg'] = 'changed %s of %s%s' % (', '.join(changed_keys), name,
                                                    ' and it is back' if params['wait'] else '')
    except ChainopsError as exc:
        remediation.fail(exc)
    remediation.exit(changed=True, **result)


if __name__ == '__main__':
    main()
