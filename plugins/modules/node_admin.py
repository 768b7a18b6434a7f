#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: node_admin
short_description: Unban miners, reset trust or set mempool limits through a BitCell node's admin endpoint
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - "Calls the admin endpoint of one BitCell node, C(POST <admin_url>/admin/<command>) with
    C(Authorization: Bearer <token>), the admin access runbook 000 asks for in Chain Not Progressing
    (unban miners, reset trust scores) and High Pending Transactions (fee floor, mempool size)."
  - Reads the node's C(status) first and posts only what would change it; O(command=unban) or
    O(command=reset_trust) with no banned miner, or O(command=mempool) with the limits already in place, report
    C(changed=false) and post nothing.
  - In check mode it reads the status and returns the same keys as a real run, with RV(after) predicted from the
    status; nothing is posted.
  - The token comes from O(admin_token), else from the file O(admin_token_path), read inside O(container) through
    the Docker Engine's archive API when O(container) is given, else from the local file system (a Kubernetes
    pod whose data directory is a host path, or a module run on the node itself). The token never appears in
    results, messages or logs.
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.docker
attributes:
  check_mode:
    support: full
    details:
      - Reads the status and predicts RV(after); the pending count after a higher fee floor is V(null) in check
        mode (only the node knows the fees of its pending transactions).
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  admin_url:
    description:
      - Base URL of the node's metrics/admin HTTP server, C(http://<ip>:<metrics port>), without C(/admin).
    type: str
    required: true
  command:
    description:
      - V(status) reads the node's status (never changes anything).
      - V(ban) bans O(miners); V(unban) unbans O(miners), or every banned miner when O(miners) is empty;
        V(reset_trust) clears the whole trust state (every ban).
      - V(mempool) sets O(min_fee) (fee floor; pending transactions below it are dropped) and/or O(mempool_max).
    type: str
    choices: [status, ban, unban, reset_trust, mempool]
    default: status
  miners:
    description:
      - Miner ids (node ids) for O(command=ban) (required) or O(command=unban) (empty means every banned miner).
    type: list
    elements: str
    default: []
  min_fee:
    description:
      - Fee floor for O(command=mempool), an integer >= 0.
    type: int
  mempool_max:
    description:
      - Maximum number of pending transactions for O(command=mempool), an integer >= 1.
    type: int
  admin_token:
    description:
      - The admin token. Default from the environment variable E(CHAINOPS_ADMIN_TOKEN); when neither is set the token
        is read from O(admin_token_path).
    type: str
  admin_token_path:
    description:
      - The node's C(admin.token) file, inside O(container) when given, else on the machine the module runs on.
    type: path
    default: /data/bitcell/admin.token
  container:
    description:
      - Docker container of the node, to read O(admin_token_path) inside it. Omit for a local file.
    type: str
  timeout:
    description:
      - Seconds each HTTP request may take. Must be > 0.
    type: float
    default: 5.0
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(admin_url).
    type: bool
    default: true
notes:
  - The docker connection options are used only when O(container) is given and O(admin_token) is not.
seealso:
  - module: chainops.runbooks.chain_progress
'''

EXAMPLES = r'''
- name: Unban every miner this node banned (runbook 000 "If no active miners")
  chainops.runbooks.node_admin:
    admin_url: "http://{{ chainops_node_ip }}:{{ chainops_metrics_port }}"
    container: "{{ chainops_container }}"
    command: unban

- name: Reset the trust scores of a us-west pod (token in the pod's host data directory)
  chainops.runbooks.node_admin:
    admin_url: http://127.0.3.1:9106
    admin_token_path: /srv/bitcell/us-west-0/admin.token
    command: reset_trust

- name: Raise the fee floor against spam (runbook 000 "High Pending Transactions")
  chainops.runbooks.node_admin:
    admin_url: http://127.0.1.1:9101
    container: bitcell-node-us-east-1
    command: mempool
    min_fee: 2
    mempool_max: 5000
  register: floor

- name: Read the node's status
  chainops.runbooks.node_admin:
    admin_url: http://127.0.1.1:9101
    admin_token: "{{ vault_bitcell_admin_token }}"
'''

RETURN = r'''
command:
  description: The command as given.
  returned: always
  type: str
  sample: unban
posted:
  description: JSON body posted to the endpoint; V(null) when nothing was posted (no change needed, or check mode).
  returned: always
  type: dict
  sample: {"all": true}
before:
  description: The node's status before the command.
  returned: always
  type: dict
  contains:
    node_id:
      description: Node id.
      type: str
      sample: bitcell-node-us-east-1
    height:
      description: Chain height.
      type: int
      sample: 230
    state:
      description: Node state.
      type: str
      sample: running
    miners:
      description: The miner set.
      type: list
      elements: str
    banned:
      description: Miners this node has banned.
      type: list
      elements: str
      sample: [bitcell-node-us-east-1]
    eligible:
      description: Miners minus banned ones.
      type: list
      elements: str
    active_miners:
      description: Eligible miners the node hears from (itself and connected peers).
      type: int
      sample: 5
    quorum:
      description: Whether the active miners are more than 2/3 of the miner set.
      type: bool
      sample: true
    peers:
      description: Number of connected peers.
      type: int
      sample: 6
    mempool:
      description: Pending transactions (C(pending)), fee floor (C(min_fee)) and cap (C(mempool_max)).
      type: dict
      sample: {"pending": 1450, "min_fee": 0, "mempool_max": 100000}
after:
  description:
    - The status after the command (same keys as RV(before)); read back from the node on a real run, predicted in
      check mode.
  returned: always
  type: dict
dropped:
  description:
    - Pending transactions the node dropped when O(command=mempool) changed the limits; V(0) when nothing was
      posted, V(null) in check mode when a higher fee floor would drop an unknown number.
  returned: always
  type: int
  sample: 1200
diff:
  description: Before and after (banned miners and mempool limits), only with C(--diff).
  returned: when diff mode is on
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, check_http_url
from ansible_collections.chainops.runbooks.plugins.module_utils.docker import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    docker_argument_spec,
    docker_client,
    find_container,
)
from ansible_collections.chainops.runbooks.plugins.module_utils import node_admin as admin


def resolve_token(module):
    params = module.params
    if params['admin_token']:
        return params['admin_token']
    path = params['admin_token_path']
    if not path or not path.strip():
        raise ChainopsError('admin_token_path=%r is not allowed; give the path of the node\'s admin.token, or '
                            'admin_token' % (path,))
    if params['container']:
        if not HAS_DOCKER:
            module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
        if not path.startswith('/'):
            raise ChainopsError('admin_token_path=%s is not allowed with container; give an absolute path inside '
                                'the container' % path)
        client = docker_client(params)
        return admin.read_container_token(find_container(client, params), path)
    return admin.read_local_token(path)


def diff_view(view):
    return {'banned': view['banned'], 'mempool_min_fee': view['mempool']['min_fee'],
            'mempool_max': view['mempool']['mempool_max']}


def run(module):
    params = module.params
    check_http_url('admin_url', params['admin_url'])
    if params['timeout'] <= 0:
        raise ChainopsError('timeout=%s is not allowed; timeout must be > 0 seconds' % params['timeout'])
    admin.check_request(params)
    token = resolve_token(module)
    module.no_log_values.add(token)
    request = dict(timeout=params['timeout'], validate_certs=params['validate_certs'])
    before = admin.status_view(admin.call(params['admin_url'], token, 'status', **request))
    body, predicted = admin.plan(params, before)
    result = dict(changed=body is not None, command=params['command'], posted=None, before=before,
                  after=predicted, dropped=0)
    if body is not None and module.check_mode:
        result['dropped'] = None if predicted['mempool']['pending'] is None else (
            before['mempool']['pending'] - predicted['mempool']['pending'])
    elif body is not None:
        reply = admin.call(params['admin_url'], token, params['command'], body, **request)
        result['posted'] = body
        result['dropped'] = int(reply.get('dropped') or 0)
        result['after'] = admin.status_view(admin.call(params['admin_url'], token, 'status', **request))
        result['changed'] = diff_view(before) != diff_view(result['after']) or result['dropped'] > 0
    if module._diff:
        result['diff'] = dict(before=diff_view(before), after=diff_view(result['after']))
    return result


def main():
    argument_spec = dict(
        admin_url=dict(type='str', required=True),
        command=dict(type='str', default='status', choices=list(admin.COMMANDS)),
        miners=dict(type='list', elements='str', default=[]),
        min_fee=dict(type='int'),
        mempool_max=dict(type='int'),
        admin_token=dict(type='str', no_log=True, fallback=(env_fallback, ['CHAINOPS_ADMIN_TOKEN'])),
        admin_token_path=dict(type='path', default='/data/bitcell/admin.token', no_log=False),
        container=dict(type='str'),
        timeout=dict(type='float', default=5.0),
        validate_certs=dict(type='bool', default=True),
    )
    argument_spec.update(docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module)
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
