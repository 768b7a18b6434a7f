# SPDX-License-Identifier: GPL-3.0-or-later
"""lab/fault: break the lab the way the runbooks say production breaks, and heal it.

    lab/fault --list                  faults, their targets and symptoms
    lab/fault <fault> <target>        inject
    lab/fault --heal [<fault> <target>]
                                      undo one fault, or every active fault, then
                                      bring the fleet back to healthy
    lab/fault --active                faults injected and not yet healed

Every fault changes something real (a stopped container, iptables rules on
loopback, a CPU quota, a full tmpfs, flipped bytes in a block file) so its
symptom is visible from outside through the same paths an operator uses.
"""
from __future__ import annotations

import argparse
import datetime
import errno
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable

from . import lab, nodes, probe, procs, topology

ACTIVE = topology.STATE / "faults.json"
IPTABLES_TAG = "chainops-lab"
DEAD_BOOTSTRAP = ["127.0.9.1:30301", "127.0.9.2:30302"]  # nothing listens there
THROTTLED_CPUS = "0.1"
BOOTSTRAP_WINDOW = 60.0  # bitcell_node.config: a node dials its bootstrap list this long after it starts
SPLIT_TIMEOUT = 30.0  # seconds for the region's nodes to drop their peers outside it (p2p PEER_TIMEOUT is 5 s)
FLOOD_RATE = "400"


@dataclass(frozen=True)
class Fault:
    name: str
    target: str  # "node" or "region"
    symptom: str
    inject: Callable
    heal: Callable


def _docker(*args):
    subprocess.run(["docker", *args], check=True, stdout=subprocess.DEVNULL)


def _iptables(action, source, destination):
    rule = ["INPUT", "-s", source, "-d", destination, "-m", "comment", "--comment", IPTABLES_TAG, "-j", "DROP"]
    present = subprocess.run(["iptables", "-C", *rule], capture_output=True, check=False).returncode == 0
    if present != (action == "-I"):  # insert only what is missing, delete only what is there
        subprocess.run(["iptables", action, *rule], check=True)


def _admin(node, *args):
    """Run the node's admin command (inside its container, as the runbook does)."""
    subprocess.run(nodes.admin_argv(node, *args), check=True, stdout=subprocess.DEVNULL)


def _running_nodes(ctx):
    """Running containers, and the us-west pods that answer (gossip reaches their mempools too)."""
    running = {c.name for c in ctx.docker.containers.list(filters={"label": "chainops.lab"})}
    serving = [node for node in ctx.fleet.kube_nodes
               if not probe.health(node.health_url, timeout=1)[1].startswith("unreachable")]
    return [node for node in ctx.fleet.docker_nodes if node.name in running] + serving


# --- node faults --------------------------------------------------------------------

def node_down(ctx, node):
    _docker("stop", "--time", "5", node.name)


def node_up(ctx, node):
    _docker("start", node.name)


def crash_loop(ctx, node):
    config = node.data_dir / "config.toml"
    shutil.copy2(config, node.data_dir / "config.toml.lab-good")
    config.write_text(config.read_text() + "p2p_port = \n")  # invalid TOML: the node exits 2 at start
    _docker("restart", "--time", "5", node.name)


def crash_loop_heal(ctx, node):
    good = node.data_dir / "config.toml.lab-good"
    if good.exists():
        shutil.move(good, node.data_dir / "config.toml")
    _docker("restart", "--time", "5", node.name)


def cpu_throttle(ctx, node):
    _docker("update", "--cpus", THROTTLED_CPUS, node.name)


def cpu_restore(ctx, node):
    _docker("update", "--cpus", str(topology.BASE_NANO_CPUS / 1e9), node.name)


def tx_flood(ctx, node):
    procs.start(f"flood-{node.name}", "loadgen", "--rpc", node.rpc_url, "--rate", FLOOD_RATE,
                "--fee", "1:1", "--sender", "spammer")


def tx_flood_heal(ctx, node):
    procs.stop(f"flood-{node.name}")
    # The spam gossiped to every mempool: a fee floor above it drops it, then the floor goes back.
    for peer in _running_nodes(ctx):
        _admin(peer, "mempool", "--min-fee", "2")
        _admin(peer, "mempool", "--min-fee", "0")


def disk_fill(ctx, node):
    """Write a ballast file until the volume is full, down to the last 512 bytes."""
    fd = os.open(node.data_dir / "ballast.fill", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            chunk = bytes(size)
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


def disk_free(ctx, node):
    (node.data_dir / "ballast.fill").unlink(missing_ok=True)


def db_corrupt(ctx, node):
    blocks = sorted((node.data_dir / "db" / "blocks").glob("*.json"))
    if len(blocks) < 5:
        raise SystemExit(f"db-corrupt: {node.name} has only {len(blocks)} blocks; let the chain grow first")
    victim = blocks[-4]
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    victim.write_bytes(bytes(data))


def db_resync(ctx, node):
    """Move the corrupted db aside as evidence and let the node resync from its peers."""
    _docker("stop", "--time", "5", node.name)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    evidence = topology.STATE / "evidence" / f"{node.name}-db-{stamp}"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    if (node.data_dir / "db").exists():
        shutil.move(node.data_dir / "db", evidence)
    _docker("start", node.name)


def _start_time(node):
    """bitcell_start_time_seconds of a running node, or None."""
    try:
        with urllib.request.urlopen(node.metrics_url, timeout=2) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("bitcell_start_time_seconds "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _wait_bootstrap_windows_closed(fault, nodes):
    """Sleep until none of `nodes` still dials its bootstrap list.

    A node restarted less than BOOTSTRAP_WINDOW ago (by an earlier fault's heal, say)
    would dial an isolated node or a split side back and hide the fault.
    """
    starts = [start for start in map(_start_time, nodes) if start]
    delay = max(starts, default=0) + BOOTSTRAP_WINDOW + 1 - time.time()
    if delay > 0:
        print(f"{fault}: waiting {delay:.0f}s until no node is still dialing its bootstrap list", flush=True)
        time.sleep(delay)


def bad_bootstrap(ctx, node):
    peers = [peer for peer in _running_nodes(ctx) if peer.name != node.name]
    _wait_bootstrap_windows_closed("bad-bootstrap", peers)
    lab.recreate_node(ctx, node, bootstrap=DEAD_BOOTSTRAP)


def good_bootstrap(ctx, node):
    lab.recreate_node(ctx, node)


# --- region faults ------------------------------------------------------------------

def region_down(ctx, region):
    for node in ctx.fleet.in_region(region):
        node_down(ctx, node)


def region_up(ctx, region):
    for node in ctx.fleet.in_region(region):
        node_up(ctx, node)


def region_outage(ctx, region, action="-I"):
    subnet = ctx.fleet.region_subnet(region)
    _iptables(action, "0.0.0.0/0", subnet)
    _iptables(action, subnet, "0.0.0.0/0")


def region_outage_heal(ctx, region):
    region_outage(ctx, region, "-D")


def partition(ctx, region, action="-I"):
    inside = ctx.fleet.region_subnet(region)
    for other in ctx.fleet.regions:
        if other != region:
            outside = ctx.fleet.region_subnet(other)
            _iptables(action, inside, outside)
            _iptables(action, outside, inside)


def partition_heal(ctx, region):
    partition(ctx, region, "-D")


def split_region(ctx, region):
    """A partition the network recovered from: the links drop until the region's nodes have lost
    every peer outside it, then come back; nodes only dial during their bootstrap window, so the
    two sides stay split until someone restarts nodes (runbook: "restart nodes to re-establish
    connections")."""
    partition(ctx, region)
    inside = ctx.fleet.in_region(region)

    def split():
        states = probe.fleet_state(inside)
        return all(s["peers"] is not None and s["peers"] <= len(inside) - 1 for s in states)

    try:
        if not probe.wait_until(split, SPLIT_TIMEOUT):
            raise SystemExit(f"partition-split: {region} still has peers outside it after {SPLIT_TIMEOUT:g}s")
        _wait_bootstrap_windows_closed("partition-split", _running_nodes(ctx))
    finally:
        partition_heal(ctx, region)


def ban_miners(ctx, region):
    miners = [node.name for node in ctx.fleet.in_region(region)]
    for node in _running_nodes(ctx):
        _admin(node, "ban", *miners)


def unban_miners(ctx, region):
    for node in _running_nodes(ctx):
        _admin(node, "unban", "--all")


FAULTS = {f.name: f for f in (
    Fault("node-down", "node", "container stopped; /health unreachable; peers' peer count drops", node_down, node_up),
    Fault("node-crash-loop", "node", "config.toml broken; the container exits 2 and docker restarts it over and over",
          crash_loop, crash_loop_heal),
    Fault("region-down", "region", "every container of the region stopped", region_down, region_up),
    Fault("region-outage", "region", "provider-style outage: the region's addresses drop all packets, "
          "processes still up", region_outage, region_outage_heal),
    Fault("partition", "region", "packets between the region and the rest dropped; no side has quorum, the chain "
          "halts; links stay down until nodes restart", partition, partition_heal),
    Fault("partition-split", "region", "the region cut off until its nodes dropped every peer outside it, then the "
          "links restored; the sides stay split and the chain halts until nodes restart", split_region, partition_heal),
    Fault("banned-miners", "region", "the region's miners banned on every node; active miners below quorum, "
          "the chain halts", ban_miners, unban_miners),
    Fault("cpu-throttle", "node", f"docker update --cpus {THROTTLED_CPUS}; proof generation time rises about tenfold",
          cpu_throttle, cpu_restore),
    Fault("tx-flood", "node", f"spam at {FLOOD_RATE} tx/s with the lowest fee; pending transactions pass 1000",
          tx_flood, tx_flood_heal),
    Fault("disk-fill", "node", "the node's data volume filled to 100%; /health says disk full", disk_fill, disk_free),
    Fault("db-corrupt", "node", "bytes flipped in a recent block file; db-check fails, a restart fails with "
          "state corruption", db_corrupt, db_resync),
    Fault("bad-bootstrap", "node", "node recreated with BOOTSTRAP_NODES pointing nowhere; zero peers",
          bad_bootstrap, good_bootstrap),
)}


# --- bookkeeping and CLI --------------------------------------------------------------

def active():
    return json.loads(ACTIVE.read_text()) if ACTIVE.exists() else []


def _save(entries):
    ACTIVE.parent.mkdir(parents=True, exist_ok=True)
    ACTIVE.write_text(json.dumps(entries, indent=2) + "\n")


def resolve_target(ctx, fault, target):
    """The node or region a fault applies to, or exit 2 naming the valid choices."""
    if fault.target == "node":
        choices = [node.name for node in ctx.fleet.docker_nodes]
        if target in choices:
            return ctx.fleet.node(target)
    else:
        choices = ctx.fleet.regions
        if target in choices:
            return target
    raise UsageError(f"{fault.name}: unknown {fault.target} {target!r}; valid {fault.target}s: {', '.join(choices)}")


class UsageError(Exception):
    pass


def inject(ctx, name, target):
    fault = _fault(name)
    resolved = resolve_target(ctx, fault, target)
    entries = active()
    if {"fault": name, "target": target} in [{k: e[k] for k in ("fault", "target")} for e in entries]:
        return f"{name} {target}: already active"
    # Recorded first: a fault that fails half-way is still active, so --heal undoes what it did.
    entries.append({"fault": name, "target": target,
                    "injected_at": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    _save(entries)
    fault.inject(ctx, resolved)
    return f"{name} {target}: injected ({fault.symptom})"


def heal(ctx, name=None, target=None):
    """Undo one active fault (or all), then restore the fleet to healthy."""
    if name is not None:
        fault = _fault(name)
        resolve_target(ctx, fault, target)
    entries = active()
    chosen = [e for e in entries if name is None or (e["fault"], e["target"]) == (name, target)]
    for entry in reversed(chosen):
        fault = FAULTS[entry["fault"]]
        fault.heal(ctx, resolve_target(ctx, fault, entry["target"]))
        entries.remove(entry)
        _save(entries)
    lab.restore_fleet(ctx)
    return [f"{e['fault']} {e['target']}: healed" for e in chosen] or ["no active fault; fleet checked"]


def _fault(name):
    if name not in FAULTS:
        raise UsageError(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}")
    return FAULTS[name]


def listing():
    width = max(len(name) for name in FAULTS)
    return "\n".join(f"{f.name:<{width}}  <{f.target}>  {f.symptom}" for f in FAULTS.values())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab/fault", description="Inject or heal a lab fault.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="faults:\n" + listing())
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list faults and exit")
    mode.add_argument("--heal", action="store_true", help="heal the named fault, or every active one")
    mode.add_argument("--active", action="store_true", help="show faults injected and not healed")
    parser.add_argument("fault", nargs="?")
    parser.add_argument("target", nargs="?")
    args = parser.parse_args(argv)
    if args.list:
        print(listing())
        return 0
    if args.active:
        print(json.dumps(active(), indent=2))
        return 0
    if (args.fault is None) != (args.target is None) or (args.fault is None and not args.heal):
        parser.print_usage(sys.stderr)
        print(f"lab/fault: give <fault> <target>; valid faults: {', '.join(FAULTS)}", file=sys.stderr)
        return 2
    try:
        ctx = lab.Context()
        if args.heal:
            print("\n".join(heal(ctx, args.fault, args.target)))
        else:
            print(inject(ctx, args.fault, args.target))
    except UsageError as err:
        print(f"lab/fault: {err}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"lab/fault: {' '.join(err.cmd)} failed with exit {err.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
