# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus text exposition (format 0.0.4) and the /health verdict."""
from __future__ import annotations

import math

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name -> (type, help); the order here is the order on the page.
METRICS = {
    "bitcell_chain_height": ("gauge", "Height of this node's chain head."),
    "bitcell_peer_count": ("gauge", "Connected peers (distinct node ids)."),
    "bitcell_dht_peers": ("gauge", "Node ids in the DHT routing table, excluding this node."),
    "bitcell_active_miners": ("gauge", "Eligible (not banned) miners this node or its peers are."),
    "bitcell_banned_miners": ("gauge", "Miners banned by this node's EBSL trust state."),
    "bitcell_proof_gen_time_seconds": ("gauge", "Wall time of the last proof this node generated."),
    "bitcell_pending_txs": ("gauge", "Transactions waiting in the mempool."),
    "bitcell_txs_processed_total": ("counter", "Transactions included in blocks appended to this node's chain."),
    "bitcell_blocks_produced_total": ("counter", "Blocks this node produced."),
    "bitcell_last_block_timestamp_seconds": ("gauge", "Timestamp of the head block (unix seconds)."),
    "bitcell_syncing": ("gauge", "1 while the node is more than 2 blocks behind its best peer."),
    "bitcell_db_size_bytes": ("gauge", "Bytes used by the block database."),
    "bitcell_disk_free_bytes": ("gauge", "Free bytes on the data volume (available to the node)."),
    "bitcell_disk_total_bytes": ("gauge", "Size of the data volume in bytes."),
    "bitcell_node_info": ("gauge", "Constant 1, labelled with the node's identity."),
    "bitcell_start_time_seconds": ("gauge", "Unix time the node process started."),
}


def escape_label_value(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)


def render(samples):
    """`samples`: name -> value, or name -> [(labels dict, value), ...]. Unknown names are an error."""
    lines = []
    for name, (kind, help_text) in METRICS.items():
        if name not in samples:
            continue
        lines.append(f"# HELP {name} {escape_help(help_text)}")
        lines.append(f"# TYPE {name} {kind}")
        value = samples[name]
        series = value if isinstance(value, list) else [({}, value)]
        for labels, sample in series:
            label_text = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
            lines.append(f"{name}{{{label_text}}} {format_value(sample)}" if labels else f"{name} {format_value(sample)}")
    unknown = sorted(set(samples) - set(METRICS))
    if unknown:
        raise KeyError(f"unregistered metric(s): {', '.join(unknown)}")
    return "\n".join(lines) + "\n"


def health(state, height, peers, min_peers, syncing, best_height, disk_full):
    """(http status, body) for /health: ok only when running, peered, synced and not disk-full."""
    if state == "starting":
        reason = "starting"
    elif disk_full:
        reason = "disk full"
    elif peers < min_peers:
        reason = "no peers"
    elif syncing:
        reason = f"syncing: height {height} of {best_height}"
    else:
        return 200, {"status": "ok", "height": height, "peers": peers}
    return 503, {"status": "unhealthy", "reason": reason, "height": height, "peers": peers}
