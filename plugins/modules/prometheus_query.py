#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: prometheus_query
short_description: Run a PromQL query against the Prometheus HTTP API (read-only)
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - Runs one PromQL instant query (C(/api/v1/query)) or range query (C(/api/v1/query_range)) and returns the result as
    data that tasks can use directly. A vector is a list of C({metric, value}), a matrix a list of
    C({metric, values}), a scalar one C({timestamp, value}). Sample values are floats.
  - Read-only. It fails with a clear message, never a traceback, when Prometheus is unreachable
    (for example C(url=http://127.0.0.1:9 is unreachable, connection refused)) or rejects the query (the message has
    Prometheus's own error text and the query).
  - A query for a metric that Prometheus does not know is not an error; it returns an empty vector.
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.read_only
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.probe
options:
  url:
    description:
      - Base URL of the Prometheus server, for example V(http://prometheus:9090), or with the path prefix of a proxy
        (V(https://ops.example.com/prometheus)). An absolute C(http) or C(https) URL with a host, without query or
        fragment. A password in the URL is hidden from the output.
    type: str
    required: true
  query:
    description:
      - The PromQL expression, for example V(up{job="bitcell-nodes"}) or V(rate(bitcell_txs_processed_total[5m])).
    type: str
    required: true
  type:
    description:
      - V(instant) evaluates O(query) at one time (O(time)); V(range) evaluates it from O(start) to O(end) every O(step).
    type: str
    choices: [instant, range]
    default: instant
  time:
    description:
      - Evaluation time of an V(instant) query. Default is Prometheus's current time.
      - Unix seconds (V(1700000000)), an RFC 3339 time with a time zone (V(2024-01-31T12:00:00Z)), or V(now),
        V(now-10m), V(now+1h) (relative to the clock of the machine that runs the module).
      - Only with O(type=instant).
    type: raw
  start:
    description:
      - Start of a V(range) query, in the formats of O(time). Required with O(type=range); must be before O(end).
    type: raw
  end:
    description:
      - End of a V(range) query, in the formats of O(time). Only with O(type=range); default V(now).
    type: raw
  step:
    description:
      - Resolution of a V(range) query, as seconds (V(15), V(0.5)) or a Prometheus duration (V(15s), V(1m), V(1h30m)).
      - Required with O(type=range). Must be > 0, and (O(end) - O(start)) / O(step) at most 11000 points, the limit
        Prometheus enforces.
    type: raw
  username:
    description:
      - User name for HTTP basic authentication. Requires O(password).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Requires O(username). Never shown in the output.
    type: str
  token:
    description:
      - Bearer token sent in the C(Authorization) header. Mutually exclusive with O(username) and O(password).
        Never shown in the output.
    type: str
notes:
  - O(timeout), O(deadline), O(retries), O(retry_backoff) and O(validate_certs) apply to the single request (it is
    retried after connection failures, timeouts and HTTP 429/502/503/504). O(concurrency) is accepted so that the
    C(group/chainops.runbooks.fleet) module defaults apply; one query never needs more than one connection.
  - NaN and infinite sample values, which JSON cannot carry, are returned as V(null).
seealso:
  - module: chainops.runbooks.fleet_probe
  - module: chainops.runbooks.chain_progress
  - name: Prometheus HTTP API
    description: The API this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
'''

EXAMPLES = r'''
- name: Which BitCell nodes does Prometheus see as down?
  chainops.runbooks.prometheus_query:
    url: http://127.0.0.1:9090
    query: up{job="bitcell-nodes"} == 0
  register: triage_down
  run_once: true

- name: Name them
  ansible.builtin.debug:
    msg: "{{ triage_down.result | map(attribute='metric.instance') | list }}"
  run_once: true

- name: Block production over the last ten minutes, one point a minute
  chainops.runbooks.prometheus_query:
    url: http://127.0.0.1:9090
    query: max(bitcell_chain_height)
    type: range
    start: now-10m
    end: now
    step: 1m
  register: triage_heights
  run_once: true

- name: Query a Prometheus behind a proxy that wants a bearer token
  chainops.runbooks.prometheus_query:
    url: https://ops.example.com/prometheus
    token: "{{ vault_prometheus_token }}"
    query: sum by (region) (bitcell_active_miners)
    time: "2024-01-31T12:00:00Z"
  register: triage_miners
'''

RETURN = r'''
changed:
  description: Always V(false); the module only reads.
  returned: always
  type: bool
  sample: false
elapsed:
  description: Wall-clock seconds the query took, retries included.
  returned: always
  type: float
  sample: 0.031
query:
  description: The PromQL expression that was run.
  returned: always
  type: str
  sample: up{job="bitcell-nodes"} == 0
query_params:
  description:
    - The times sent to Prometheus, as unix seconds. C(time) for an instant query (V(null) for Prometheus's now);
      C(start), C(end) and C(step) for a range query.
  returned: always
  type: dict
  sample: {start: 1700000000.0, end: 1700000600.0, step: 60.0}
result_type:
  description: The type of RV(result), as Prometheus reports it.
  returned: always
  type: str
  choices: [vector, matrix, scalar, string]
  sample: vector
result:
  description:
    - For V(vector) a list of C({metric, value, timestamp}) (C(metric) is the label set, C(value) a float).
    - For V(matrix) a list of C({metric, values}) with C(values) as C([[timestamp, value], ...]).
    - For V(scalar) and V(string) one C({timestamp, value}).
    - A NaN or infinite value is V(null). A native histogram sample has C(value) V(null) and the raw C(histogram).
  returned: always
  type: raw
  sample:
    - metric: {__name__: up, instance: bitcell-node-eu-west-2, job: bitcell-nodes, region: eu-west}
      value: 0.0
      timestamp: 1700000000.123
prometheus_warnings:
  description: Warnings Prometheus returned with the result (also shown as task warnings).
  returned: always
  type: list
  elements: str
  sample: []
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError, url_secrets
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    probe_argument_spec,
    validate_probe_settings,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.prometheus import (
    PrometheusClient,
    check_query_params,
)


def argument_spec():
    spec = dict(
        url=dict(type='str', required=True),
        query=dict(type='str', required=True),
        type=dict(type='str', choices=['instant', 'range'], default='instant'),
        time=dict(type='raw'),
        start=dict(type='raw'),
        end=dict(type='raw'),
        step=dict(type='raw'),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        token=dict(type='str', no_log=True),
    )
    spec.update(probe_argument_spec())
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[('type', 'range', ('start', 'step'))],
        mutually_exclusive=[('token', 'username'), ('token', 'password')],
        required_together=[('username', 'password')],
    )
    params = module.params
    module.no_log_values.update(url_secrets(params['url']))

    started = time.monotonic()
    try:
        settings = validate_probe_settings(params)
        query_params = check_query_params(params)
        client = PrometheusClient(params['url'], timeout=settings.timeout, validate_certs=settings.validate_certs,
                                  username=params['username'], password=params['password'], token=params['token'],
                                  retries=settings.retries, retry_backoff=settings.retry_backoff,
                                  deadline_at=started + settings.deadline)
        if params['type'] == 'range':
            result_type, result, warnings = client.query_range(params['query'], query_params['start'],
                                                               query_params['end'], query_params['step'])
        else:
            result_type, result, warnings = client.query(params['query'], query_params['time'])
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())

    for warning in warnings:
        module.warn('Prometheus: %s' % warning)
    module.exit_json(changed=False, query=params['query'], query_params=query_params, result_type=result_type,
                     result=result, prometheus_warnings=warnings, elapsed=round(time.monotonic() - started, 3))


if __name__ == '__main__':
    main()
