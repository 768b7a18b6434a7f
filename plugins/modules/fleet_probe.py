#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: fleet_probe
short_description: Probe a whole BitCell fleet concurrently (read-only)
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - Probes every target of a BitCell fleet in one task, concurrently, on a bounded thread pool.
  - For each target it calls the JSON-RPC endpoint (C(eth_blockNumber), C(net_peerCount), C(eth_syncing)),
    the health endpoint (HTTP GET, V(200) or V(503) with a JSON status and reason) and the Prometheus metrics endpoint,
    whichever of them are configured.
  - Returns a report per target (reachable, healthy, status, reason, height, peers, selected metrics, errors) and a
    fleet-level summary (height spread, lagging targets, low peer counts, per-region status).
  - Read-only. An unreachable or unhealthy target is reported as data, never as a task failure; the task fails only on
    invalid arguments.
  - Declares a target down only when at least O(down_quorum) independent observers say it is down (k-of-n rule), so that
    a single glitch never declares a node down. The observers are V(direct) (this module's own health, JSON-RPC and
    metrics requests), V(peers) (whether any other target lists the node in its C(bitcell_nodeInfo) peer list) and, with
    O(prometheus_url), V(prometheus) (the C(up) series Prometheus keeps for the node).
  - Run it once per play (C(run_once=true)) over all hosts, for example with the P(chainops.runbooks.fleet_targets#filter)
    filter, rather than once per host.
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.read_only
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.probe
options:
  targets:
    description:
      - The nodes to probe. Each target needs a unique O(targets[].name) and at least one of O(targets[].rpc_url),
        O(targets[].health_url) and O(targets[].metrics_url).
      - URLs must be absolute C(http) or C(https) URLs with a host. A password in a URL (C(https://user:pass@host/))
        is hidden from the output.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique name of the target, usually its C(inventory_hostname). Keys RV(targets).
        type: str
        required: true
      region:
        description:
          - Region of the target, used to group RV(fleet.regions). Targets without a region are grouped under C(unknown).
        type: str
      rpc_url:
        description:
          - JSON-RPC 2.0 endpoint (HTTP POST).
        type: str
      health_url:
        description:
          - Health endpoint (HTTP GET). V(200) with C({"status":"ok"}) is healthy; any other answer is unhealthy, with the
            C(reason) of the JSON body (for example C(no peers)) or the HTTP status as reason.
        type: str
      metrics_url:
        description:
          - Prometheus text-format endpoint (HTTP GET).
        type: str
  metrics:
    description:
      - Names of the metrics to return from each O(targets[].metrics_url), in RV(targets.metrics).
      - Each name must match the Prometheus metric-name grammar C([a-zA-Z_:][a-zA-Z0-9_:]*).
      - A counter can be named with or without its C(_total) suffix. A histogram or summary named by its family name gives
        the mean observation (C(_sum) / C(_count)); name C(<name>_sum), C(<name>_count) or C(<name>_bucket) for raw samples.
      - With an empty list the metrics endpoint is still probed (reachability, height and peer fallback) but no metric is returned.
    type: list
    elements: str
    default:
      - bitcell_chain_height
      - bitcell_peer_count
      - bitcell_dht_peers
      - bitcell_active_miners
      - bitcell_banned_miners
      - bitcell_proof_gen_time_seconds
      - bitcell_pending_txs
      - bitcell_txs_processed_total
      - bitcell_last_block_timestamp_seconds
      - bitcell_disk_free_bytes
      - bitcell_disk_total_bytes
      - bitcell_db_size_bytes
      - bitcell_node_info
  lag_threshold:
    description:
      - A reachable target whose height is more than this many blocks behind the highest height of the fleet is listed in
        RV(fleet.lagging). Must be >= 0.
    type: int
    default: 5
  min_peers:
    description:
      - A reachable target with fewer peers than this is listed in RV(fleet.low_peers). Must be >= 0.
    type: int
    default: 2
  prometheus_url:
    description:
      - Base URL of a Prometheus server (for example V(http://prometheus:9090)) that scrapes the targets. When set,
        the module runs one instant query C(up) and adds the V(prometheus) observer to RV(targets.observers).
      - A C(up) series describes a target when its C(instance), C(node), C(node_id) or C(nodename) label is the target's
        O(targets[].name) or node id, or its C(instance) is the C(host:port) of one of the target's URLs. The observer says
        V(up) when any such series is 1, V(down) when all are 0, V(unknown) when none matches or Prometheus does not answer.
      - An unreachable Prometheus is data, not a failure; see RV(fleet.observer_errors). A password in the URL is hidden
        from the output.
    type: str
  down_quorum:
    description:
      - The k of the k-of-n rule. A target is declared down (RV(targets.declared_down), RV(fleet.declared_down)) only
        when at least this many observers say V(down).
      - From 1 to the number of observers, which is 2 (V(direct), V(peers)) or 3 with O(prometheus_url).
        V(1) lets a single observer declare a node down and is not recommended.
    type: int
    default: 2
requirements:
  - prometheus-client (Python library), when O(metrics) is not empty and a target has O(targets[].metrics_url).
notes:
  - Height and peers come from JSON-RPC when it answers, else from the health endpoint, else from the
    C(bitcell_chain_height) and C(bitcell_peer_count) metrics.
  - When the health endpoint answers, its verdict decides health. Without a health answer a target that is syncing
    (C(eth_syncing)) or has 0 peers is unhealthy. A configured endpoint that fails always makes a reachable target unhealthy.
  - The per-request O(timeout) applies to each socket operation; O(deadline) bounds the whole call.
  - The V(peers) observer needs C(bitcell_nodeInfo) answers from other targets (each target with O(targets[].rpc_url)
    is asked in the same concurrent fan-out). It says V(up) when another target lists the node as a peer (by name or by
    the node id the node reported), V(down) when other targets answered and none lists it, V(unknown) when no other
    target answered. A C(bitcell_nodeInfo) failure is not an endpoint error and never makes a target unhealthy.
  - The V(direct) observer says V(up) when any endpoint answered, V(down) when none did, and V(unknown) when the
    O(deadline) passed before any answer.
seealso:
  - plugin: chainops.runbooks.fleet_targets
    plugin_type: filter
  - plugin: chainops.runbooks.node_down
    plugin_type: filter
  - module: chainops.runbooks.prometheus_query
  - module: chainops.runbooks.chain_progress
'''

EXAMPLES = r'''
- name: Probe every BitCell node of the play in one task
  chainops.runbooks.fleet_probe:
    targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
    lag_threshold: 5
    min_peers: 2
  run_once: true
  delegate_to: localhost
  register: triage_fleet

- name: Show the lagging and unreachable nodes
  ansible.builtin.debug:
    msg: "lagging={{ triage_fleet.fleet.lagging }} unreachable={{ triage_fleet.fleet.unreachable }}"
  run_once: true

- name: Probe two nodes explicitly, with tight timeouts and a few metrics
  chainops.runbooks.fleet_probe:
    targets:
      - name: node-1
        region: us-east
        rpc_url: http://10.0.0.11:8545/
        health_url: http://10.0.0.11:9090/health
        metrics_url: http://10.0.0.11:9090/metrics
      - name: node-2
        region: eu-west
        health_url: http://10.0.1.12:9090/health
    metrics:
      - bitcell_chain_height
      - bitcell_pending_txs
      - bitcell_node_info
    timeout: 1.5
    deadline: 10
    retries: 0
  register: triage_pair

- name: Let three observers vote; two must agree before a node is declared down
  chainops.runbooks.fleet_probe:
    targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
    prometheus_url: http://127.0.0.1:9090
    down_quorum: 2
  run_once: true
  register: triage_votes

- name: Show why each declared-down node is down
  ansible.builtin.debug:
    msg: "{{ item }}: {{ triage_votes.targets[item].verdict }}"
  loop: "{{ triage_votes.fleet.declared_down }}"
  run_once: true

- name: Set probe defaults for the whole fleet action group
  module_defaults:
    group/chainops.runbooks.fleet:
      timeout: 2
      deadline: 15
  block:
    - name: Probe the fleet
      chainops.runbooks.fleet_probe:
        targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
      run_once: true
      register: triage_defaults
'''

RETURN = r'''
changed:
  description: Always V(false); the module only reads.
  returned: always
  type: bool
  sample: false
elapsed:
  description: Wall-clock seconds the probe took.
  returned: always
  type: float
  sample: 0.412
targets:
  description:
    - Per-target report, keyed by O(targets[].name), in the order of O(targets). Each value contains the keys below.
  returned: always
  type: dict
  contains:
    region:
      description: The target's O(targets[].region), V(null) when not set.
      type: str
      returned: always
      sample: us-east
    reachable:
      description: At least one configured endpoint sent an HTTP answer (any status, 503 included).
      type: bool
      returned: always
      sample: true
    healthy:
      description: V(true) when RV(targets.status) is V(healthy).
      type: bool
      returned: always
      sample: false
    status:
      description: Overall state of the target.
      type: str
      returned: always
      choices: [healthy, unhealthy, unreachable]
      sample: unhealthy
    reason:
      description:
        - Why the target is not healthy, empty when it is healthy. Several reasons are joined with C(; ).
        - >-
          The health endpoint's own reason comes first (C(no peers), C(syncing: height 90 of 120), C(disk full),
          C(starting)); then endpoint errors (C(rpc: timed out after 3s)). A target that gave no answer before the
          deadline has the reason C(deadline exceeded).
      type: str
      returned: always
      sample: no peers
    height:
      description: Block height (JSON-RPC, else health, else metrics); V(null) when unknown or unreachable.
      type: int
      returned: always
      sample: 1234
    peers:
      description: Peer count (JSON-RPC, else health, else metrics); V(null) when unknown or unreachable.
      type: int
      returned: always
      sample: 0
    syncing:
      description: Whether the node is syncing, according to C(eth_syncing) or a health reason starting with C(syncing); V(null) when unknown.
      type: bool
      returned: always
      sample: false
    latency_ms:
      description: Round-trip time in milliseconds of the first answered request (JSON-RPC, else health, else metrics); V(null) when none answered.
      type: float
      returned: always
      sample: 3.2
    metrics:
      description:
        - The O(metrics) exposed by the target, keyed by metric name; empty without a successful metrics request.
        - An unlabelled metric is a number (an integer when the value is integral); a labelled metric is a list of
          C({labels, value}) dicts. A requested metric the node does not expose is V(null), and so is a NaN or infinite value.
      type: dict
      returned: always
      sample:
        bitcell_chain_height: 1234
        bitcell_proof_gen_time_seconds: 2.5
        bitcell_node_info:
          - labels: {node_id: node-1, region: us-east, version: 0.3.1}
            value: 1
    errors:
      description: One string per failed endpoint, prefixed with the endpoint (C(rpc), C(health), C(metrics)); URLs are never included.
      type: list
      elements: str
      returned: always
      sample: ["rpc: connection refused (2 attempts)", "metrics: deadline exceeded"]
    observers:
      description:
        - What each observer says about the target, V(up), V(down) or V(unknown), keyed by observer
          (V(direct), V(peers) and, with O(prometheus_url), V(prometheus)).
      type: dict
      returned: always
      sample: {direct: down, peers: down, prometheus: unknown}
    down_votes:
      description: Number of observers that say V(down).
      type: int
      returned: always
      sample: 2
    declared_down:
      description: V(true) when RV(targets.down_votes) >= O(down_quorum).
      type: bool
      returned: always
      sample: true
    verdict:
      description: One sentence with the votes and the rule applied.
      type: str
      returned: always
      sample: "2 of 3 observers say down (direct, peers), 1 unknown (prometheus); k=2 \u2192 down"
fleet:
  description: Fleet-level summary.
  returned: always
  type: dict
  contains:
    status:
      description:
        - V(down) when no target is healthy, V(healthy) when every target is healthy and none is lagging or low on peers,
          V(degraded) otherwise.
      type: str
      returned: always
      choices: [healthy, degraded, down]
      sample: degraded
    total:
      description: Number of targets.
      type: int
      returned: always
      sample: 6
    healthy_count:
      description: Number of healthy targets.
      type: int
      returned: always
      sample: 4
    max_height:
      description: Highest known height; V(null) when no height is known.
      type: int
      returned: always
      sample: 1240
    min_height:
      description: Lowest known height of a reachable target; V(null) when no height is known.
      type: int
      returned: always
      sample: 1100
    height_spread:
      description: RV(fleet.max_height) minus RV(fleet.min_height); V(null) when no height is known.
      type: int
      returned: always
      sample: 140
    lagging:
      description: Names of reachable targets more than O(lag_threshold) blocks behind RV(fleet.max_height).
      type: list
      elements: str
      returned: always
      sample: [node-3]
    low_peers:
      description: Names of reachable targets with fewer than O(min_peers) peers.
      type: list
      elements: str
      returned: always
      sample: [node-2]
    unreachable:
      description: Names of targets with status V(unreachable).
      type: list
      elements: str
      returned: always
      sample: [node-5]
    unhealthy:
      description: Names of targets with status V(unhealthy) (reachable but not healthy).
      type: list
      elements: str
      returned: always
      sample: [node-2]
    declared_down:
      description: Names of the targets declared down by the k-of-n rule (RV(targets.declared_down)), in target order.
      type: list
      elements: str
      returned: always
      sample: [bitcell-node-us-east-1]
    observers:
      description: The observers that vote, in the order of RV(targets.observers).
      type: list
      elements: str
      returned: always
      sample: [direct, peers, prometheus]
    down_quorum:
      description: The O(down_quorum) applied.
      type: int
      returned: always
      sample: 2
    observer_errors:
      description:
        - Why an observer could not vote, keyed by observer; empty when every observer could.
          For example an unreachable O(prometheus_url) (the V(prometheus) observer then says V(unknown) for every target).
      type: dict
      returned: always
      sample: {prometheus: "prometheus_url=http://127.0.0.1:9090 is unreachable: connection refused"}
    regions:
      description:
        - Per-region counts keyed by region name (C(unknown) for targets without a region). Each value has C(total),
          C(healthy), C(unhealthy), C(unreachable), C(lagging), C(low_peers), C(max_height) and C(status)
          (V(healthy), V(degraded) or V(down), with the same rule as RV(fleet.status)).
      type: dict
      returned: always
      sample:
        us-east: {total: 2, healthy: 2, unhealthy: 0, unreachable: 0, lagging: 0, low_peers: 0, max_height: 1240, status: healthy}
        eu-west: {total: 2, healthy: 0, unhealthy: 1, unreachable: 1, lagging: 0, low_peers: 1, max_height: 1239, status: down}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_int_range,
    url_secrets,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    DEFAULT_METRICS,
    needs_prometheus_client,
    probe_argument_spec,
    target_url_secrets,
    targets_argument_spec,
    probe_fleet,
    validate_metric_names,
    validate_observer_settings,
    validate_probe_settings,
    validate_targets,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.metrics import (
    HAS_PROMETHEUS_CLIENT,
    PROMETHEUS_CLIENT_IMPORT_ERROR,
)


def argument_spec():
    spec = dict(
        targets=targets_argument_spec(),
        metrics=dict(type='list', elements='str', default=list(DEFAULT_METRICS)),
        lag_threshold=dict(type='int', default=5),
        min_peers=dict(type='int', default=2),
        prometheus_url=dict(type='str'),
        down_quorum=dict(type='int', default=2),
    )
    spec.update(probe_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params

    # Passwords embedded in URLs must never show up in the result or the invocation.
    module.no_log_values.update(target_url_secrets(params['targets']))
    module.no_log_values.update(url_secrets(params['prometheus_url']))

    try:
        settings = validate_probe_settings(params)
        check_int_range('lag_threshold', params['lag_threshold'], minimum=0, unit='blocks')
        check_int_range('min_peers', params['min_peers'], minimum=0)
        targets = validate_targets(params['targets'])
        metric_names = validate_metric_names(params['metrics'])
        observe = validate_observer_settings(params)
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())

    if needs_prometheus_client(targets, metric_names) and not HAS_PROMETHEUS_CLIENT:
        module.fail_json(msg=missing_required_lib('prometheus-client', reason='to read metrics from metrics_url'),
                         exception=PROMETHEUS_CLIENT_IMPORT_ERROR)

    result = probe_fleet(targets, metric_names, settings, params['lag_threshold'], params['min_peers'], observe=observe)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
