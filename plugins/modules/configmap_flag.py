#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: configmap_flag
short_description: Set or unset feature flags in a ConfigMap and restart its dependants only when they changed
version_added: 0.1.0
description:
  - Runbook 002 "Disable Problematic Feature" (C(kubectl edit configmap app-config)) as one idempotent task.
  - Sets the keys of O(set) and removes the keys of O(unset) in the ConfigMap's C(data) with a merge patch. Keys
    not named stay as they are.
  - Pods read ConfigMap values at start, so when (and only when) the data changed, the workloads of O(restart) get a
    rollout restart, and with O(wait) the module waits until every rollout is done. A second run finds the flags set,
    changes nothing and restarts nothing.
  - The change passes the guardrails first (lock, circuit breaker, cooldown), keyed by the ConfigMap.
  - Check mode returns the same RV(actions) (the patch and each restart) and, with C(--diff), the same data diff.
author:
  - chainops.runbooks maintainers (!UNKNOWN)
options:
  namespace:
    description: Namespace of the ConfigMap and of the workloads to restart.
    type: str
    required: true
  configmap:
    description: Name of the ConfigMap.
    type: str
    required: true
  set:
    description: Keys to set, with their string values (quote numbers and booleans).
    type: dict
    default: {}
  unset:
    description: Keys to remove.
    type: list
    elements: str
    default: []
  restart:
    description: Workloads (C(deployment/<name>), C(statefulset/<name>)) that read the ConfigMap and must restart.
    type: list
    elements: str
    default: []
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
    support: full
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Turn the new settlement path off and restart the backend once (runbook 002, option 5)
  chainops.runbooks.configmap_flag:
    namespace: default
    configmap: app-config
    set:
      FEATURE_NEW_SETTLEMENT: "false"
    restart:
      - deployment/blockchain-backend
    kubeconfig: "{{ chainops_kubeconfig }}"
'''

RETURN = r'''
actions:
  description: The commands this run took (in check mode, would take); empty when the flags were already set.
  type: list
  elements: str
  returned: always
  sample: ["kubectl patch configmap/app-config -n default --type merge (FEATURE_NEW_SETTLEMENT=false)",
           "kubectl rollout restart deployment/blockchain-backend -n default"]
msg:
  description: What was done or why nothing was.
  type: str
  returned: always
changed_keys:
  description: The keys whose value changed (or would change).
  type: list
  elements: str
  returned: always
rollouts:
  description: For each restarted workload, its last C(kubectl rollout status) message.
  type: dict
  returned: when workloads were restarted and O(wait=true)
guardrails:
  description: The guardrail decision, with the rule that refused and the numbers it used.
  type: dict
  returned: when the data changes
elapsed:
  description: Seconds the module spent, rollout waits included.
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


def read_configmap(kube, namespace, name):
    what = 'namespace=%s configmap/%s' % (namespace, name)
    found = kube.exists(what, kube.core.read_namespaced_config_map, name, namespace)
    if found is None:
        kube_backend.read_namespace(kube, namespace)
        raise ChainopsError('%s does not exist; pick an existing ConfigMap' % what)
    return found


def validate(params):
    values = params['set']
    bad = sorted(k for k, v in values.items() if not isinstance(v, str))
    if bad:
        raise ChainopsError('set=%r is not allowed; every value must be a string (quote numbers and booleans): %s'
                            % (values, ', '.join(bad)))
    both = sorted(set(values) & set(params['unset']))
    if both:
        raise ChainopsError('unset=%r is not allowed; %s is also in set' % (params['unset'], ', '.join(both)))
    if not values and not params['unset']:
        raise ChainopsError('set={} and unset=[] is not allowed; give at least one key to set or unset')


def main():
    argument_spec = dict(
        namespace=dict(type='str', required=True),
        configmap=dict(type='str', required=True),
        set=dict(type='dict', default={}),
        unset=dict(type='list', elements='str', default=[]),
        restart=dict(type='list', elements='str', default=[]),
    )
    argument_spec.update(kube_backend.kube_argument_spec())
    argument_spec.update(remediation_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not kube_backend.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=kube_backend.KUBERNETES_IMPORT_ERROR)
    params = module.params
    namespace, name = params['namespace'], params['configmap']
    remediation = Remediation(module)
    try:
        validate(params)
        dependants = [kube_backend.parse_workload('restart', w) for w in params['restart']]
        kube = kube_backend.kube_client(params)
        configmap = read_configmap(kube, namespace, name)
        # Read every dependant now, so a typo fails before anything changes.
        workloads = [kube_backend.read_workload(kube, namespace, kind, w) for kind, w in dependants]
        plan = plans.plan_configmap(namespace, name, configmap, params['set'], params['unset'])
        changed_keys = sorted(plan.patch['data']) if plan.changed else []
        result = dict(msg=plan.msg, changed_keys=changed_keys, actions=[])
        if module._diff:
            data = configmap.get('data') or {}
            wanted = dict((k, v) for k, v in dict(data, **(plan.patch or {}).get('data', {})).items() if v is not None)
            result['diff'] = dict(before=dict(data=data), after=dict(data=wanted))
        if not plan.changed:
            remediation.exit(changed=False, **result)
        restarts = [plans.plan_restart(namespace, dependant[0], w, None) for dependant, w in zip(dependants, workloads)]
        result['actions'] = [plan.action] + [r.action for r in restarts]

        def apply():
            kube.call('namespace=%s configmap/%s' % (namespace, name), kube.core.patch_namespaced_config_map, name,
                      namespace, plan.patch, _content_type=plan.content_type)
            for (kind, w_name), restart in zip(dependants, restarts):
                kube_backend.patch_workload(kube, namespace, kind, w_name, restart.patch)
            if params['wait']:
                result['rollouts'] = dict(('%s/%s' % (kind, w_name), kube_backend.wait_rollout(
                    kube, namespace, kind, w_name, remediation.deadline_at, params['wait_sleep'])[1])
                    for kind, w_name in dependants)
            result['msg'] = '%s; restarted %s' % (plan.msg, ', '.join(params['restart']) or 'nothing')

        result['guardrails'] = remediation.guarded('%s/configmap/%s' % (namespace, name), 'configmap', apply)
    except ChainopsError as exc:
        remediation.fail(exc)
    remediation.exit(changed=True, **result)


if __name__ == '__main__':
    main()
