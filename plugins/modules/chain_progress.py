#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: chain_progress
short_description: Tell whether a BitCell chain is progressing, stalled, partitioned or forked (read-only)
version_added: 0.1.0
author: chainops.runbooks maintainers (!UNKNOWN)
description:
  - Automates the diagnosis of runbook 000 "Chain Not Progressing". Takes O(samples) snapshots of the fleet spread
    evenly over O(window) seconds. Each snapshot is one concurrent fan-out over every target that calls
    C(eth_blockNumber) and C(bitcell_nodeInfo) (head and peer list) on O(targets[].rpc_url) and reads
    C(bitcell_active_miners), C(bitcell_banned_miners) and C(bitcell_peer_count) from O(targets[].metrics_url).
  - Classifies the chain in RV(state). V(progressing) when the highest height grew over the window. V(stalled) when it
    did not and the peer graph is connected. V(partitioned) when the peer graph (undirected edges from the peer lists)
    splits into more than one connected component and at most one component grows; heads that differ across the split
    (the block in flight when the link broke) are listed in RV(forks) but do not make it a fork. V(forked) when
    connected nodes at the same height report different head hashes in two snapshots in a row, or when several
    components grow separate chains. V(unknown) when fewer than O(quorum) targets answered.
  - Names the runbook's likely cause in RV(likely_cause) with RV(evidence) and RV(recommended_action). Banned
    miners, or active miners at or below the quorum threshold, give V(no_active_miners) ("unban miners or reset trust
    scores"). A split peer graph gives V(network_partition) ("restart nodes to re-establish connections", minority side
    first). Nodes with fewer than O(min_peers) peers give V(low_peers). Anything else gives V(unknown).
    The cause is V(none) while the chain progresses.
  - Read-only. Unreachable targets are data, never a task failure; the task fails only on invalid arguments.
extends_documentation_fragment:
  - chainops.runbooks.attributes
  - chainops.runbooks.attributes.read_only
  - chainops.runbooks.attributes.actiongroup_fleet
  - chainops.runbooks.probe
options:
  targets:
    description:
      - The nodes to sample, in the same shape as O(chainops.runbooks.fleet_probe#module:targets) (for example from the
        P(chainops.runbooks.fleet_targets#filter) filter). Each target needs a unique O(targets[].name) and an
        O(targets[].rpc_url) or O(targets[].metrics_url).
      - URLs must be absolute C(http) or C(https) URLs with a host. A password in a URL is hidden from the output.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique name of the target, usually its C(inventory_hostname). Peers in C(bitcell_nodeInfo) peer lists are
            matched to targets by this name or by the node id the target reports.
        type: str
        required: true
      region:
        description:
          - Region of the target, used for RV(regions) and the regions of RV(components). Without it the region the node
            reports in C(bitcell_nodeInfo) is used for the components, and V(unknown) for RV(regions).
        type: str
      rpc_url:
        description:
          - JSON-RPC 2.0 endpoint, for heights (C(eth_blockNumber)), head hash and peer list (C(bitcell_nodeInfo)).
        type: str
      health_url:
        description:
          - Accepted so that the same target list serves M(chainops.runbooks.fleet_probe); not used by this module.
        type: str
      metrics_url:
        description:
          - Prometheus text-format endpoint, for C(bitcell_active_miners), C(bitcell_banned_miners), C(bitcell_peer_count),
            and C(bitcell_chain_height) as the height when JSON-RPC does not answer.
        type: str
  window:
    description:
      - Seconds between the first and the last snapshot. Must be > 0 and < O(deadline).
      - The default suits the lab (a block every 2 seconds). In production use the runbook's 10 minutes
        (V(600), with O(deadline) above it, for example V(660)).
    type: float
    default: 10.0
  samples:
    description:
      - Number of snapshots, from 2 to 1000, evenly spread over O(window) (the first at once, the last at the end).
    type: int
    default: 3
  quorum:
    description:
      - Minimum number of targets that must answer (a height in at least one snapshot). With fewer answers
        RV(state) is V(unknown) and RV(reason) names the silent targets.
      - From 1 to the number of targets. Default is more than half of the targets.
    type: int
  miner_count:
    description:
      - Size of the miner set. The chain needs more than 2/3 of it active; C(active_miners_needed) in RV(evidence) is derived
        from it. Must be >= 1. Default is the number of targets (every node mines, as in the lab).
    type: int
  min_peers:
    description:
      - A node with fewer peers than this counts as low on peers (V(low_peers) cause). Must be >= 0.
    type: int
    default: 2
requirements:
  - prometheus-client (Python library), when a target has O(targets[].metrics_url).
notes:
  - Each snapshot may use the time until the next one is due (at least O(timeout)); the last one may use what is left
    of O(deadline), which bounds the whole call.
  - A target that does not implement C(bitcell_nodeInfo) has no peer list; it is left out of the peer graph. Without
    any peer list the graph is unknown and the chain can only be V(progressing), V(stalled) or V(unknown).
  - The peer graph is that of the last snapshot. Targets that did not answer C(bitcell_nodeInfo) are not vertices, so
    a node that is down does not count as a component of its own.
seealso:
  - module: chainops.runbooks.fleet_probe
  - module: chainops.runbooks.prometheus_query
  - plugin: chainops.runbooks.fleet_targets
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Is the chain progressing? (lab window)
  chainops.runbooks.chain_progress:
    targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
  run_once: true
  register: triage_chain

- name: Say what the runbook says to do
  ansible.builtin.debug:
    msg: "{{ triage_chain.state }} ({{ triage_chain.likely_cause }}): {{ triage_chain.recommended_action }}"
  run_once: true

- name: Production - the runbook's 10 minutes, one snapshot a minute, 4 of 6 nodes must answer
  chainops.runbooks.chain_progress:
    targets: "{{ hostvars | chainops.runbooks.fleet_targets(ansible_play_hosts) }}"
    window: 600
    samples: 11
    deadline: 660
    quorum: 4
  run_once: true
  register: triage_chain_prod

- name: Restart the minority side of a partition first
  ansible.builtin.debug:
    msg: "restart {{ triage_chain.minority.nodes | join(', ') }}"
  when: triage_chain.likely_cause == 'network_partition' and triage_chain.minority is not none
  run_once: true
'''

RETURN = r'''
changed:
  description: Always V(false); the module only reads.
  returned: always
  type: bool
  sample: false
elapsed:
  description: Wall-clock seconds the call took (about O(window) plus the last snapshot).
  returned: always
  type: float
  sample: 10.21
window_observed:
  description: Seconds between the first and the last snapshot actually taken.
  returned: always
  type: float
  sample: 10.003
state:
  description: State of the chain over the window.
  returned: always
  type: str
  choices: [progressing, stalled, partitioned, forked, unknown]
  sample: partitioned
reason:
  description: One sentence with the numbers behind RV(state).
  returned: always
  type: str
  sample: >-
    no growth over 10.0s (max height 230); the peer graph splits into 2 components:
    [n1, n2, n3 (us-east)] and [n4, n5 (eu-west)]; minority: n4, n5; 5 of 5 targets answered
likely_cause:
  description:
    - The runbook 000 "Chain Not Progressing" cause that fits the evidence; V(none) while the chain progresses.
  returned: always
  type: str
  choices: [none, no_active_miners, network_partition, low_peers, unknown]
  sample: network_partition
evidence:
  description:
    - The numbers the cause was decided on. Always has C(height_start), C(height_end), C(height_delta),
      C(active_miners) and C(banned_miners) (highest value any node reported), C(miner_count), C(active_miners_needed)
      (more than 2/3 of C(miner_count)), C(components) (count), C(component_sizes), C(peer_counts) (per answering
      target) and C(min_peers).
    - For V(network_partition) also C(minority) and C(minority_regions) when one component is the smallest; for
      V(low_peers) also C(low_peers) (names).
  returned: always
  type: dict
  sample:
    height_start: 230
    height_end: 230
    height_delta: 0
    active_miners: 3
    banned_miners: 0
    miner_count: 5
    active_miners_needed: 4
    components: 2
    component_sizes: [3, 2]
    peer_counts: {n1: 2, n2: 2, n3: 2, n4: 1, n5: 1}
    min_peers: 2
    minority: [n4, n5]
    minority_regions: [eu-west]
recommended_action:
  description: What the runbook says to do about RV(likely_cause), with the nodes to act on.
  returned: always
  type: str
  sample: "Restart nodes to re-establish connections, starting with the minority side: n4, n5 (eu-west)."
height_start:
  description: Highest height in the first snapshot (of the targets that answered both the first and the last one, when any did); V(null) when unknown.
  returned: always
  type: int
  sample: 230
height_end:
  description: Highest height in the last snapshot, same targets as RV(height_start); V(null) when unknown.
  returned: always
  type: int
  sample: 235
height_delta:
  description: RV(height_end) minus RV(height_start); V(null) when unknown.
  returned: always
  type: int
  sample: 5
blocks_per_minute:
  description: RV(height_delta) per minute of RV(window_observed); V(null) when unknown.
  returned: always
  type: float
  sample: 30.0
answered:
  description: Names of the targets that gave a height in at least one snapshot.
  returned: always
  type: list
  elements: str
  sample: [n1, n2, n3, n4, n5]
unanswered:
  description: Names of the targets that never gave a height.
  returned: always
  type: list
  elements: str
  sample: []
quorum:
  description: The O(quorum) applied (the default resolved).
  returned: always
  type: int
  sample: 3
components:
  description:
    - Connected components of the peer graph of the last snapshot, largest first; empty when no target answered
      C(bitcell_nodeInfo).
  returned: always
  type: list
  elements: dict
  contains:
    nodes:
      description: Target names, and ids of listed peers that are not targets.
      type: list
      elements: str
      sample: [n4, n5]
    regions:
      description: Number of nodes per region.
      type: dict
      sample: {eu-west: 2}
    size:
      description: Number of nodes.
      type: int
      sample: 2
    max_height:
      description: Highest height of the component's targets in the last snapshot.
      type: int
      sample: 230
    height_delta:
      description: Growth of the component's highest height over the window.
      type: int
      sample: 0
    grew:
      description: Whether RV(components.height_delta) is > 0.
      type: bool
      sample: false
    minority:
      description: Whether this is the minority component (RV(minority)).
      type: bool
      sample: true
minority:
  description:
    - The smallest component, C(nodes) and C(regions), when the graph is split and one component is smaller than all
      others; V(null) otherwise.
  returned: always
  type: dict
  sample: {nodes: [n4, n5], regions: {eu-west: 2}}
forks:
  description:
    - Heights at which nodes report different head hashes; each item has C(height), C(heads) (head hash to node names)
      and C(across_components).
  returned: always
  type: list
  elements: dict
  sample: []
regions:
  description:
    - Per-region view keyed by region (C(unknown) without one). Each value has C(targets) (names), C(answered) (count),
      C(max_height), C(height_delta), C(components) (indexes into RV(components)), C(active_miners),
      C(banned_miners) and C(peer_counts).
  returned: always
  type: dict
  sample:
    eu-west: {targets: [n4, n5], answered: 2, max_height: 230, height_delta: 0, components: [1], active_miners: 2,
              banned_miners: 0, peer_counts: {n4: 1, n5: 1}}
targets:
  description: Per-target report keyed by O(targets[].name), in the order of O(targets).
  returned: always
  type: dict
  contains:
    region:
      description: The target's O(targets[].region).
      type: str
      sample: eu-west
    answered:
      description: Whether the target gave a height in at least one snapshot.
      type: bool
      sample: true
    height:
      description: Last known height.
      type: int
      sample: 230
    height_delta:
      description: Last known height minus first known height.
      type: int
      sample: 0
    peers:
      description: Peer ids of the last C(bitcell_nodeInfo) answer; V(null) without one.
      type: list
      elements: str
      sample: [n5]
    peer_count:
      description: Number of peers (C(bitcell_nodeInfo), else C(bitcell_peer_count)).
      type: int
      sample: 1
    active_miners:
      description: Last C(bitcell_active_miners).
      type: int
      sample: 2
    banned_miners:
      description: Last C(bitcell_banned_miners).
      type: int
      sample: 0
    component:
      description: Index into RV(components); V(null) when the target is not in the peer graph.
      type: int
      sample: 1
    samples:
      description:
        - One item per snapshot with C(t) (seconds after the start), C(height), C(head_hash), C(peer_count),
          C(active_miners), C(banned_miners) and C(errors) (per endpoint, never with URLs).
      type: list
      elements: dict
      sample:
        - {t: 0.0, height: 230, head_hash: "0x4f1c", peer_count: 1, active_miners: 2, banned_miners: 0, errors: []}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chainops.runbooks.plugins.module_utils.chain import (
    chain_progress,
    validate_chain_settings,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.fleet import (
    probe_argument_spec,
    target_url_secrets,
    targets_argument_spec,
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
        window=dict(type='float', default=10.0),
        samples=dict(type='int', default=3),
        quorum=dict(type='int'),
        miner_count=dict(type='int'),
        min_peers=dict(type='int', default=2),
    )
    spec.update(probe_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params

    module.no_log_values.update(target_url_secrets(params['targets']))

    try:
        probe_settings = validate_probe_settings(params)
        targets = validate_targets(params['targets'])
        chain_settings = validate_chain_settings(params, targets, probe_settings.deadline)
    except ChainopsError as exc:
        module.fail_json(**exc.fail_kwargs())

    if any(t.get('metrics_url') for t in targets) and not HAS_PROMETHEUS_CLIENT:
        module.fail_json(msg=missing_required_lib('prometheus-client', reason='to read metrics from metrics_url'),
                         exception=PROMETHEUS_CLIENT_IMPORT_ERROR)

    result = chain_progress(targets, probe_settings, chain_settings)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
