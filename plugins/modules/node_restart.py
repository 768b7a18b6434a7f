#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: node_restart
short_description: Restart a node wherever it runs (docker or Kubernetes) and wait until it is healthy
version_added: 0.1.0
description:
  - Runbook 000 "Node Down" resolution (C(docker restart bitcell-node-us-east-1), or C(kubectl rollout restart
    statefulset/bitcell-node-us-west) / C(kubectl delete pod)) as one task that also proves the node came back.
  - The node is a docker container (O(container), or a compose service with O(compose_service)) or Kubernetes pods
    (O(namespace) with O(pod) for a single pod delete, or O(workload) for a rollout restart). Exactly one of those.
  - With O(condition=unhealthy) (the default) the node is restarted only when it is not healthy now (container
    not running, pod or rollout not ready, or O(health_url) not answering 2xx). A healthy node is left alone, so a
    rerun after a successful restart changes nothing. O(condition=always) restarts a healthy node too.
  - Before restarting, the guardrails run (lock, circuit breaker, cooldown, and with O(fleet) quorum and max
    unavailable), keyed by O(name).
  - Then it waits, with one deadline of O(wait_timeout) seconds, until the runtime reports the node restarted and
    ready, O(health_url) answers 2xx and, with O(wait_for=progressing), the height on O(rpc_url) grows.
    A node that does not come back is a failed remediation (it counts for the circuit breaker) and fails the task
    with the last state seen.
  - Check mode reads the same state and returns the same RV(actions) and RV(guardrails) decision, restarting nothing.
author:
  - chainops.runbooks maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the node in O(fleet) and in the guardrail state (cooldown, breaker, lock); usually C(inventory_hostname).
      - Defaults to the container, pod or workload name.
    type: str
  k8s_container:
    description: Container of the pod that runs the node; the first one by default.
    type: str
  health_url:
    description: The node's health endpoint (C(http://<ip>:<metrics_port>/health)); 2xx means healthy.
    type: str
  rpc_url:
    description: The node's JSON-RPC endpoint, to see the height grow after the restart.
    type: str
  probe_timeout:
    description: Seconds each request to O(health_url) or O(rpc_url) may take.
    type: float
    default: 3.0
  condition:
    description: Restart only an V(unhealthy) node, or V(always).
    type: str
    choices: [unhealthy, always]
    default: unhealthy
  wait_for:
    description:
      - What "back" means. V(healthy) - restarted, ready and O(health_url) 2xx. V(progressing) - also a height on
        O(rpc_url) that grows; use V(healthy) while the whole chain is stalled (quorum lost), since no node's
        height grows then.
    type: str
    choices: [healthy, progressing]
    default: progressing
  stop_timeout:
    description: Seconds docker gives the node to stop before it is killed.
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
    support: none
  idempotent:
    support: partial
    details: Idempotent with O(condition=unhealthy); O(condition=always) restarts on every run (cooldown permitting).
'''

EXAMPLES = r'''
- name: Restart a down docker node and wait until its height grows
  chainops.runbooks.node_restart:
    name: "{{ inventory_hostname }}"
    container: "{{ inventory_hostname }}"
    health_url: "{{ chainops_health_url }}"
    rpc_url: "{{ chainops_rpc_url }}"
    fleet: "{{ triage_guard_fleet }}"

- name: Restart a us-west pod (kubectl delete pod) without waiting for height while quorum is lost
  chainops.runbooks.node_restart:
    name: bitcell-node-us-west-0
    namespace: bitcell-production
    pod: bitcell-node-us-west-0
    health_url: http://127.0.3.1:9106/health
    wait_for: healthy
    kubeconfig: "{{ chainops_kubeconfig }}"
'''

RETURN = r'''
actions:
  description: The commands this run took (in check mode, would take); empty when the node was healthy.
  type: list
  elements: str
  returned: always
  sample: ["docker start bitcell-node-us-east-1"]
msg:
  description: What was done or why nothing was.
  type: str
  returned: always
runtime:
  description: Where the node runs, V(docker) or V(kubernetes).
  type: str
  returned: always
before:
  description: Runtime state (running, status, restart count, started at, limits) and health, height before.
  type: dict
  returned: always
after:
  description: The same as RV(before) once the node was back (or at the deadline).
  type: dict
  returned: when the node was restarted
guardrails:
  description: The guardrail decision, with the rule that refused and the numbers it used.
  type: dict
  returned: when a restart was due
elapsed:
  description: Seconds the module spent, the wait included.
  type: float
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
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


def observe(target, params):
    state = target.state()
    state.update(node_health(params['health_url'], params['rpc_url'], params['probe_timeout'],
                             params['validate_certs']))
    return state


def is_healthy(target, state):
    return target.ready(state) and state['healthy'] is not False


def main():
    argument_spec = node_argument_spec()
    argument_spec.update(health_wait_argument_spec('progressing'))
    argument_spec.update(condition=dict(type='str', default='unhealthy', choices=['unhealthy', 'always']))
    argument_spec.update(remediation_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE, required_one_of=TARGET_REQUIRED_ONE_OF,
                           required_by=TARGET_REQUIRED_BY, required_if=HEALTH_WAIT_REQUIRED_IF)
    params = module.params
    remediation = Remediation(module)
    try:
        check_health_wait(params)
        target = runtime_target(params)
        name = params['name'] or target.name
        before = observe(target, params)
        result = dict(runtime=target.runtime, before=before, actions=[])
        if params['condition'] == 'unhealthy' and is_healthy(target, before):
            remediation.exit(changed=False, msg='%s is healthy (%s); nothing to restart' % (
                name, before['health'] or before['status']), **result)
        result['actions'] = [target.restart_action(before)]
        result['msg'] = 'restarting %s: %s' % (name, before['health'] or before['status'])

        def observe_after():
            result['after'] = observe(target, params)
            return result['after']

        back = back_check(observe_after, lambda state: target.restarted(before, state) and is_healthy(target, state),
                          params['wait_for'])

        def apply():
            target.restart(before)
            if not params['wait']:
                result['after'] = observe(target, params)
                return
            if not wait_until(back, remediation.deadline_at, params['wait_sleep']):
                after = result.get('after') or {}
                raise ChainopsError('%s did not come back before wait_timeout=%s: %s, health %s, height %s' % (
                    name, params['wait_timeout'], after.get('status'), after.get('health'), after.get('height')),
                    after=after, actions=result['actions'])
            result['msg'] = '%s restarted and %s' % (name, 'healthy' if params['wait_for'] == 'healthy'
                                                     else 'progressing at height %s' % result['after']['height'])

        result['guardrails'] = remediation.guarded(name, 'restart', apply)
    except ChainopsError as exc:
        remediation.fail(exc)
    remediation.exit(changed=True, **result)


if __name__ == '__main__':
    main()
