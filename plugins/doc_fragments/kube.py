# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options for modules that talk to a Kubernetes API.

    Twin of ``kube_argument_spec()`` in ``plugins/module_utils/kube.py``.
    """

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path of the kubeconfig file to load. Without it (and without O(host)) the client's default,
        C(~/.kube/config), is used.
      - If not set, the environment variable E(K8S_AUTH_KUBECONFIG) or E(KUBECONFIG) is used.
    type: path
  context:
    description:
      - Context of O(kubeconfig) to use instead of its current context.
      - If not set, the environment variable E(K8S_AUTH_CONTEXT) is used.
    type: str
  host:
    description:
      - URL of the Kubernetes API, overriding the one of O(kubeconfig).
      - If not set, the environment variable E(K8S_AUTH_HOST) is used.
    type: str
  api_key:
    description:
      - Bearer token for the Kubernetes API, overriding the credentials of O(kubeconfig). Never logged.
      - If not set, the environment variable E(K8S_AUTH_API_KEY) is used.
    type: str
  ca_cert:
    description:
      - CA certificate file to verify the API's TLS certificate, overriding the one of O(kubeconfig).
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
  validate_certs:
    description:
      - Verify the API's TLS certificate.
      - If not set, the environment variable E(K8S_AUTH_VERIFY_SSL) is used.
    type: bool
    default: true
  request_timeout:
    description:
      - Seconds to wait for each answer of the Kubernetes API.
    type: float
    default: 30.0
requirements:
  - kubernetes (Python client) >= 30
'''
