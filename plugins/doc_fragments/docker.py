# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options for modules that talk to the Docker Engine API.

    Twin of ``docker_argument_spec()`` in ``plugins/module_utils/docker.py``.
    """

    DOCUMENTATION = r'''
options:
  docker_host:
    description:
      - The Docker Engine API to talk to, as C(unix://), C(tcp://) or C(ssh://) URL.
      - If not set, the environment variable E(DOCKER_HOST) is used.
    type: str
    default: unix:///var/run/docker.sock
  docker_timeout:
    description:
      - Seconds to wait for an answer from the Docker Engine API.
      - If not set, the environment variable E(DOCKER_TIMEOUT) is used.
    type: int
    default: 60
  tls_ca_cert:
    description:
      - CA certificate to verify a C(tcp://) Docker Engine with TLS.
      - If not set, the environment variable E(DOCKER_CERT_PATH_CA) is used.
    type: path
  tls_client_cert:
    description:
      - Client certificate for a C(tcp://) Docker Engine with TLS; needs O(tls_client_key).
      - If not set, the environment variable E(DOCKER_CERT_PATH_CERT) is used.
    type: path
  tls_client_key:
    description:
      - Private key file of O(tls_client_cert). Only the path is an option; the key itself never is.
      - If not set, the environment variable E(DOCKER_CERT_PATH_KEY) is used.
    type: path
  validate_certs:
    description:
      - Verify the Docker Engine's TLS certificate.
    type: bool
    default: true
requirements:
  - docker (Python SDK) >= 7.1
'''
