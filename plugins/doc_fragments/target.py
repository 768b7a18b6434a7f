# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Where a node runs: a docker container or Kubernetes pods.

    Twin of ``target_argument_spec()`` in ``plugins/module_utils/runtime.py``.
    """

    DOCUMENTATION = r'''
options:
  container:
    description:
      - Name or id of the docker container that runs the node.
      - Exactly one of O(container), O(compose_service), O(pod) and O(workload) is required.
    type: str
  compose_service:
    description:
      - Docker compose service that runs the node, found by the C(com.docker.compose.service) label. It must match
        exactly one container; narrow it with O(compose_project).
    type: str
  compose_project:
    description: Docker compose project of O(compose_service) (label C(com.docker.compose.project)).
    type: str
  namespace:
    description: Kubernetes namespace of O(pod) or O(workload); not allowed with a docker target.
    type: str
  pod:
    description: Kubernetes pod that runs the node; needs O(namespace).
    type: str
  workload:
    description:
      - Kubernetes workload that runs the node, as C(<kind>/<name>) with kind C(statefulset) (C(sts)) or
        C(deployment) (C(deploy)), for example C(statefulset/bitcell-node-us-west); needs O(namespace).
    type: str
'''
