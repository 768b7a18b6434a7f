#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: container_evidence
short_description: Preserve logs, inspect data, stats and config files of a container or pod before a restart
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - Runbook 000 says to I(preserve evidence) before anything is restarted. This module collects, from a docker
    container or from Kubernetes pods, what an operator would save by hand with C(docker logs --tail),
    C(docker inspect), C(docker stats --no-stream) and C(docker cp) (or C(kubectl logs), C(kubectl get -o json)
    and C(kubectl get events)), into one bundle directory on the host that runs the module.
  - Each call writes a new bundle C(<dest>/<label>/<UTC timestamp>/) holding C(logs.txt), C(inspect.json),
    C(stats.json) (with O(stats=true)), C(files/<path inside the container>) for O(config_paths), and
    C(manifest.json) with the SHA-256 of every other file. For a O(workload) the bundle holds the workload's
    C(inspect.json) and one subdirectory per pod with that layout.
  - Everything is read first and held in memory; the bundle is written into a staging directory that is renamed
    into place once complete, with owner-only permissions (directories 0700, files 0600).
  - Secrets are redacted. Environment values whose names contain C(TOKEN), C(SECRET), C(PASSWORD), C(PASSWD),
    C(KEY), C(PRIVATE), C(CREDENTIAL), C(DSN) or C(AUTH) (in any case) become C(********) in C(inspect.json),
    as do ConfigMap values that feed such variables. Every such value of 8 characters or more is then also
    replaced by C(********) wherever it occurs in any file of the bundle (a process that prints its token, a
    token on the command line); the manifest counts the replacements per file.
  - Kubernetes Secrets are never read. Config files of pods are read from the ConfigMaps their volumes mount
    (the module does not exec into pods).
  - Uses the docker SDK and the kubernetes client; it never runs C(docker) or C(kubectl).
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.target
  - chainops.runbooks.docker
  - chainops.runbooks.kube
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads everything a real run reads and returns the same keys, including the list of files with
        their sizes and SHA-256 at that moment, but writes nothing (not even O(dest)).
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Evidence is a snapshot of a moment, so every call writes a new bundle and returns C(changed=true). Earlier
        bundles are never modified or removed.
options:
  dest:
    description:
      - Incident directory on the host that runs the module. It is created when missing (but not in check mode).
    type: path
    required: true
  label:
    description:
      - Name of the subdirectory of O(dest) that holds this target's bundles.
      - Defaults to the container name, the pod name or the workload name.
      - One directory name; it must not contain C(/) or start with C(.).
    type: str
  tail_lines:
    description:
      - Last lines of log to keep from each container, as C(docker logs --tail). Must be > 0.
    type: int
    default: 1000
  since:
    description:
      - Keep only log lines newer than this, as a duration back from now (V(90s), V(15m), V(2h), V(1d), or plain
        seconds) or as an RFC 3339 timestamp (V(2026-11-23T14:00:00Z)). Combined with O(tail_lines).
    type: str
  stats:
    description:
      - Also write C(stats.json), holding one C(docker stats --no-stream) sample of a running container, or what
        C(metrics.k8s.io) reports for a pod (an API without metrics is recorded in the file, not a failure).
    type: bool
    default: true
  config_paths:
    description:
      - Absolute paths of files or directories inside the container to copy into C(files/), for example
        V(/data/bitcell/config.toml). Only regular files are copied, as they are (apart from the secret scrub).
      - Docker containers are read with the archive API (like C(docker cp)); pods through the ConfigMap volumes
        mounted at or above the path.
      - A path that does not exist is reported in RV(missing) and as a warning, and does not fail the collection.
      - Meant for configuration; every file is held in memory, so do not point it at data directories.
    type: list
    elements: path
    default: []
  validate_certs:
    description:
      - Verify the TLS certificate of the Docker Engine or of the Kubernetes API, whichever the target uses.
      - For the Kubernetes API, if not set, the environment variable E(K8S_AUTH_VERIFY_SSL) is used.
    type: bool
    default: true
notes:
  - The bundle lives on the host that runs the module; with the lab's C(ansible_connection=local) that is the
    controller.
seealso:
  - module: chainops.runbooks.container_info
'''

EXAMPLES = r'''
- name: Preserve evidence of a docker node before restarting it (runbook 000)
  chainops.runbooks.container_evidence:
    container: bitcell-node-eu-west-2
    dest: /var/lib/chainops/incidents/INC-42
    tail_lines: 2000
    config_paths:
      - /data/bitcell/config.toml
  register: node_evidence

- name: Same for a compose service, only the last 30 minutes of log
  chainops.runbooks.container_evidence:
    compose_service: node-eu-west-2
    compose_project: bitcell
    since: 30m
    dest: /var/lib/chainops/incidents/INC-42

- name: Every pod of the us-west StatefulSet, config from its ConfigMap volume
  chainops.runbooks.container_evidence:
    namespace: bitcell-production
    workload: statefulset/bitcell-node-us-west
    kubeconfig: /etc/chainops/kubeconfig
    dest: /var/lib/chainops/incidents/INC-42
    config_paths:
      - /data/bitcell/config.toml

- name: Show where the evidence went
  ansible.builtin.debug:
    msg: "{{ node_evidence.bundle_dir }}: {{ node_evidence.summary }}"
'''

RETURN = r'''
bundle_dir:
  description: Absolute path of the bundle directory (written, or that would be written in check mode).
  returned: success
  type: str
  sample: /var/lib/chainops/incidents/INC-42/bitcell-node-eu-west-2/20261123T140102.123456Z
target:
  description: What was collected.
  returned: success
  type: str
  sample: container/bitcell-node-eu-west-2
collected_at:
  description: When the collection started (UTC, ISO 8601); the bundle directory is named after it.
  returned: success
  type: str
  sample: '2026-11-23T14:01:02.123456+00:00'
files:
  description:
    - Every file of the bundle, C(manifest.json) last, as read back from disk after a real run (in check mode,
      what would be written).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Path relative to RV(bundle_dir).
      type: str
      sample: logs.txt
    bytes:
      description: Size in bytes.
      type: int
      sample: 48213
    sha256:
      description: SHA-256 of the content, hex.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    redactions:
      description: How many secret values were replaced by C(********) in the file's content by the scrub.
      type: int
      sample: 0
summary:
  description: Per container (or per pod), keyed by its name, the state at collection time.
  returned: success
  type: dict
  sample:
    bitcell-node-eu-west-2:
      status: running
      running: true
      restart_count: 0
      exit_code: 0
      oom_killed: false
      log_lines: 1000
  contains:
    status:
      description: Docker's state (C(running), C(exited) ...) or the pod's phase (C(Running), C(Pending) ...).
      type: str
    running:
      description: Whether the container or pod runs.
      type: bool
    restart_count:
      description: Restarts of the container, or of all containers of the pod.
      type: int
    exit_code:
      description: Exit code of the last run that ended (V(null) for a pod none of whose containers ended).
      type: int
    oom_killed:
      description: Whether the kernel killed the last run for lack of memory.
      type: bool
    log_lines:
      description: Lines in C(logs.txt).
      type: int
missing:
  description: Config paths (or container logs) that could not be collected, with the reason.
  returned: success
  type: list
  elements: dict
  sample:
    - member: bitcell-node-eu-west-2
      path: /data/bitcell/missing.toml
      reason: no such file or directory
'''

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, check_int_range
from ansible_collections.chainops.runbooks.plugins.module_utils import docker as docker_backend
from ansible_collections.chainops.runbooks.plugins.module_utils import evidence
from ansible_collections.chainops.runbooks.plugins.module_utils import kube as kube_backend
from ansible_collections.chainops.runbooks.plugins.module_utils.runtime import (
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_REQUIRED_BY,
    TARGET_REQUIRED_ONE_OF,
    is_docker_target,
    target_argument_spec,
)


def main():
    argument_spec = target_argument_spec()
    argument_spec.update(
        dest=dict(type='path', required=True),
        label=dict(type='str'),
        tail_lines=dict(type='int', default=1000),
        since=dict(type='str'),
        stats=dict(type='bool', default=True),
        config_paths=dict(type='list', elements='path', default=[]),
    )
    argument_spec.update(docker_backend.docker_argument_spec())
    # validate_certs is shared: the kube spec's version also reads K8S_AUTH_VERIFY_SSL.
    argument_spec.update(kube_backend.kube_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE,
        required_one_of=TARGET_REQUIRED_ONE_OF,
        required_by=TARGET_REQUIRED_BY,
    )
    params = module.params
    docker_target = is_docker_target(params)
    if docker_target and not docker_backend.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker'), exception=docker_backend.DOCKER_IMPORT_ERROR)
    if not docker_target and not kube_backend.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=kube_backend.KUBERNETES_IMPORT_ERROR)
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        check_int_range('tail_lines', params['tail_lines'], minimum=1)
        if params['label'] is not None:
            evidence.check_label(params['label'])
        if params['since']:
            evidence.since_seconds(params['since'], now)
        for path in params['config_paths']:
            evidence.check_config_path(path)
        if docker_target:
            bundle = evidence.collect(params, now, docker_client=docker_backend.docker_client(params))
        else:
            bundle = evidence.collect(params, now, kube=kube_backend.kube_client(params))
        module.no_log_values.update(bundle['secrets'])
        entries = bundle['entries']
        if not module.check_mode:
            evidence.write_bundle(bundle['bundle_dir'], bundle['files'])
            entries = evidence.read_back(bundle['bundle_dir'], entries)
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())
    for item in bundle['missing']:
        module.warn('%s: %s was not collected: %s' % (item['member'], item['path'], item['reason']))
    module.exit_json(changed=True, bundle_dir=bundle['bundle_dir'], target=bundle['target'],
                     collected_at=now.isoformat(), files=entries, summary=bundle['summary'],
                     missing=bundle['missing'])


if __name__ == '__main__':
    main()
