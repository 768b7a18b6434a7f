#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: node_resources
short_description: Set the CPU and memory limits of a node's container (docker update) or workload (Kubernetes)
version_added: 0.1.0
description:
  - Runbook 000 "High Proof Generation Time" (C(docker update --cpus 2 bitcell-node-us-east-1)) and runbook 003
    "Resource Exhaustion" (C(kubectl patch deployment coordinator ... resources limits)) as one idempotent task.
  - The node is a docker container (O(container) or O(compose_service)), changed in place with C(docker update), or
    Kubernetes pods (O(namespace) with O(workload), or with O(pod) meaning the workload that owns it), changed by
    patching the pod template's limits and requests, which rolls the pods out.
  - Compares the limits wanted with the limits set, in canonical units (V(1000m) equals V(1)), and changes nothing
    when they match, so a rerun reports C(changed=false).
  - A change passes the guardrails first (lock, circuit breaker, cooldown and, with O(fleet), quorum and max
    unavailable) keyed by O(name). On Kubernetes, with O(wait), it then waits for the rollout.
  - Check mode returns the same RV(actions) and, with C(--diff), the same before and after limits.
author:
  - chainops.runbooks maintainers (!UNKNOWN)
options:
  name:
    description:
      - Name of the node in O(fleet) and in the guardrail state; usually C(inventory_hostname).
      - Defaults to the container, pod or workload name.
    type: str
  k8s_container:
    description: Container of the pod template to change; the first one by default.
    type: str
  cpu:
    description: CPU limit as a Kubernetes quantity, in CPUs (V(2), V(1.5)) or millicores (V(500m)).
    type: str
  memory:
    description: Memory limit as a Kubernetes quantity (V(512Mi), V(4Gi), V(1G)), at least V(6Mi).
    type: str
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
- name: Give a throttled node two CPUs (runbook 000, High Proof Generation Time)
  chainops.runbooks.node_resources:
    container: bitcell-node-us-east-1
    cpu: "2"

- name: Raise the coordinator's limits (runbook 003, Resource Exhaustion)
  chainops.runbooks.node_resources:
    namespace: default
    workload: deployment/coordinator
    cpu: 2000m
    memory: 4Gi
    kubeconfig: "{{ chainops_kubeconfig }}"
'''

RETURN = r'''
actions:
  description: The command this run took (in check mode, would take); empty when the limits already matched.
  type: list
  elements: str
  returned: always
  sample: ["docker update --cpus 2.0 bitcell-node-us-east-1"]
msg:
  description: What was done or why nothing was.
  type: str
  returned: always
runtime:
  description: Where the node runs, V(docker) or V(kubernetes).
  type: str
  returned: always
before:
  description: The limits before, as C({cpu, memory}) quantities (V(null) when unlimited).
  type: dict
  returned: always
  sample: {"cpu": "100m", "memory": "256Mi"}
after:
  description: The limits read again after the change (in check mode, the limits that would be set).
  type: dict
  returned: always
guardrails:
  description: The guardrail decision, with the rule that refused and the numbers it used.
  type: dict
  returned: when the limits change
elapsed:
  description: Seconds the module spent, the rollout wait included.
  type: float
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend
from ansible_collections.chainops.runbooks.plugins.module_utils.quantity import (
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.remediation import (
    Remediation,
    remediation_argument_spec,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.runtime import (
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_REQUIRED_BY,
    TARGET_REQUIRED_ONE_OF,
    node_argument_spec,
    runtime_target,
)


def limits(state):
    return dict(cpu=state['cpu'], memory=state['memory'])


def main():
    argument_spec = node_argument_spec()
    argument_spec.update(cpu=dict(type='str'), memory=dict(type='str'))
    argument_spec.update(remediation_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE,
                           required_one_of=TARGET_REQUIRED_ONE_OF + [['cpu', 'memory']],
                           required_by=TARGET_REQUIRED_BY)
    params = module.params
    remediation = Remediation(module)
    try:
        cpu = parse_cpu('cpu', params['cpu']) if params['cpu'] is not None else None
        memory = parse_memory('memory', params['memory']) if params['memory'] is not None else None
        target = runtime_target(params)
        name = params['name'] or target.name
        before = limits(target.state())
        wanted = dict(before)
        if cpu is not None:
            wanted['cpu'] = format_cpu(cpu)
        if memory is not None:
            wanted['memory'] = format_memory(memory)
        result = dict(runtime=target.runtime, before=before, after=wanted, actions=[])
        if module._diff:
            result['diff'] = dict(before=before, after=wanted)
        if wanted == before:
            remediation.exit(changed=False, msg='%s already has cpu=%s memory=%s' % (
                name, before['cpu'], before['memory']), **result)
        change_cpu = cpu if wanted['cpu'] != before['cpu'] else None
        change_memory = memory if wanted['memory'] != before['memory'] else None
        result['actions'] = [target.resources_action(change_cpu, change_memory)]
        result['msg'] = 'setting %s limits from cpu=%s memory=%s to cpu=%s memory=%s' % (
            name, before['cpu'], before['memory'], wanted['cpu'], wanted['memory'])

        def apply():
            target.set_resources(change_cpu, change_memory)
            if params['wait'] and target.runtime == 'kubernetes':
                kube_backend.wait_rollout(target.kube, params['namespace'], *target.resource_owner(),
                                          deadline_at=remediation.deadline_at, sleep_s=params['wait_sleep'])
            result['after'] = limits(target.state())
            if result['after'] != wanted:
                raise ChainopsError('%s reports cpu=%s memory=%s after the update, not cpu=%s memory=%s' % (
                    name, result['after']['cpu'], result['after']['memory'], wanted['cpu'], wanted['memory']),
                    after=result['after'])

        result['guardrails'] = remediation.guarded(name, 'resources', apply)
    except ChainopsError as exc:
        remediation.fail(exc)
    remediation.exit(changed=True, **result)


if __name__ == '__main__':
    main()
