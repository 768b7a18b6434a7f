#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: container_info
short_description: State and resource use of many docker containers at once (read-only)
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - Reads what an operator gets from C(docker ps), C(docker inspect) and C(docker stats --no-stream) for a list of
    containers, concurrently, in one task.
  - For each container it returns the state, restart count, exit code, OOM kill, CPU and memory limits and, when
    O(stats=true) and the container runs, its CPU and memory use.
  - Read-only. A missing container is reported as data (RV(containers.exists=false)), not as a failure.
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.read_only
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.docker
options:
  containers:
    description:
      - Names (or ids) of the containers to describe. Duplicates are ignored.
    type: list
    elements: str
    required: true
  stats:
    description:
      - Also sample live CPU and memory use, as C(docker stats --no-stream) does (about one second per container,
        run concurrently).
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Check the BitCell containers of the play (runbook 000, "docker stats bitcell-node-<id>")
  chainops.runbooks.container_info:
    containers: "{{ ansible_play_hosts | map('extract', hostvars, 'chainops_container') | list }}"
  register: node_containers
  run_once: true

- name: Only state and limits, no live sampling
  chainops.runbooks.container_info:
    containers: [bitcell-node-us-east-1]
    stats: false
    docker_host: ssh://ops@10.10.1.11
'''

RETURN = r'''
containers:
  description: One entry per requested container, keyed by the name as given.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the container exists (V(null) when the Engine returned an error for it).
      type: bool
      sample: true
    status:
      description: Docker's state (C(running), C(exited), C(restarting) ...), C(missing) or C(error).
      type: str
      sample: running
    running:
      description: Whether the container runs.
      type: bool
      sample: true
    restarting:
      description: Whether docker is restarting it (a crash loop shows here and in RV(containers.restart_count)).
      type: bool
      returned: when the container exists
    restart_count:
      description: Restarts docker's restart policy made.
      type: int
      returned: when the container exists
      sample: 0
    exit_code:
      description: Exit code of the last run.
      type: int
      returned: when the container exists
    oom_killed:
      description: Whether the kernel killed the last run for lack of memory.
      type: bool
      returned: when the container exists
    started_at:
      description: When the current or last run started (RFC 3339).
      type: str
      returned: when the container exists
    image:
      description: Image the container runs.
      type: str
      returned: when the container exists
    compose_service:
      description: The docker compose service name, if the container belongs to one.
      type: str
      returned: when the container exists
    cpu_limit:
      description: CPU limit in CPUs (C(docker update --cpus)), V(null) when unlimited.
      type: float
      returned: when the container exists
      sample: 1.0
    memory_limit_bytes:
      description: Memory limit in bytes, V(null) when unlimited.
      type: int
      returned: when the container exists
    cpu_percent:
      description: CPU use in percent of one CPU, as C(docker stats) shows it; V(null) unless running and O(stats=true).
      type: float
      returned: when the container exists
      sample: 12.5
    memory_usage_bytes:
      description: Memory in use without page cache; V(null) unless running and O(stats=true).
      type: int
      returned: when the container exists
    memory_percent:
      description: RV(containers.memory_usage_bytes) in percent of the limit (or of the host's memory).
      type: float
      returned: when the container exists
    error:
      description: The Engine's error for this container.
      type: str
      returned: when RV(containers.status=error)
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.docker import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    describe_containers,
    docker_argument_spec,
    docker_client,
)


def main():
    argument_spec = dict(
        containers=dict(type='list', elements='str', required=True),
        stats=dict(type='bool', default=True),
    )
    argument_spec.update(docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
    names = list(dict.fromkeys(module.params['containers']))
    blank = [i for i, name in enumerate(names) if not name.strip()]
    if not names or blank:
        module.fail_json(msg='containers=%r is not allowed; give one or more non-empty container names'
                         % (module.params['containers'],))
    try:
        client = docker_client(module.params)
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(changed=False, containers=describe_containers(client, names, module.params['stats']))


if __name__ == '__main__':
    main()
