# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by probe modules; twin of ``probe_argument_spec()`` in module_utils/fleet.py."""

    DOCUMENTATION = r'''
options:
  timeout:
    description:
      - Timeout in seconds of each network operation of each request (connect, send, each read).
      - Must be > 0. It is shortened automatically when less time than that is left before O(deadline).
    type: float
    default: 3.0
  deadline:
    description:
      - Overall time budget in seconds for the whole call, all targets and retries included.
      - Must be > 0. When it is reached no new request is started; endpoints still unanswered are reported
        with the error C(deadline exceeded), and targets with no answer at all get the reason C(deadline exceeded).
    type: float
    default: 20.0
  concurrency:
    description:
      - Maximum number of requests in flight at the same time (size of the thread pool), from 1 to 256.
    type: int
    default: 32
  retries:
    description:
      - How many times a request that failed in a retryable way (timeout, connection refused or reset, HTTP 429 or 5xx
        on JSON-RPC and metrics) is tried again, from 0 to 5.
      - A health endpoint's HTTP answer, such as V(503) with a reason, is data and is never retried.
    type: int
    default: 1
  retry_backoff:
    description:
      - Seconds to wait before the first retry; the wait doubles before each further retry (exponential backoff).
      - From 0 to 60. A retry that would start after O(deadline) is not made.
    type: float
    default: 0.5
  validate_certs:
    description:
      - Verify TLS certificates of C(https) endpoints. Set to V(false) only for lab endpoints with self-signed certificates.
    type: bool
    default: true
'''
