# SPDX-License-Identifier: GPL-3.0-or-later
"""lab/labctl: bring the lab up, tear it down, show the fleet.

    lab/labctl up       dockerd (if none runs), the node image, 5 BitCell nodes,
                        a steady transaction load; waits until the chain advances;
                        the lab's Kubernetes API with its workloads (us-west nodes,
                        blockchain-backend, coordinator), all ready and following;
                        then the receiver, Alertmanager and Prometheus (every target up)
    lab/labctl down     removes everything `up` started, by pid and by label
    lab/labctl status   a table of nodes: region, container, height, peers, health;
                        the Kubernetes workloads; the firing alerts
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from functools import cached_property

from kubelab import control as kube

from . import docker_env, monitoring, nodes, probe, procs, topology

LOADGEN = "loadgen"
LOADGEN_RATE = "2"


class Context:
    """The fleet and, on first use, a docker client."""

    def __init__(self, fleet=None):
        self.fleet = fleet or topology.load()

    @cached_property
    def docker(self):
        return docker_env.client()


def recreate_node(ctx, node, bootstrap=None):
    nodes.create(ctx.docker, ctx.fleet, node, bootstrap=bootstrap)


def up(ctx, wait=120):
    started = docker_env.ensure_dockerd()
    print(f"dockerd: {'started' if started else 'already running'}")
    print(f"image {docker_env.IMAGE}: {'imported' if docker_env.ensure_image(ctx.docker) else 'up to date'}")
    for node in ctx.fleet.docker_nodes:
        nodes.prepare_data_dir(ctx.fleet, node)
        container = nodes.container(ctx.docker, node)
        if container is None or container.image.tags != [docker_env.IMAGE]:
            recreate_node(ctx, node)
        elif container.status != "running":
            container.start()
    rpc_urls = ",".join(node.rpc_url for node in ctx.fleet.docker_nodes)
    procs.start(LOADGEN, "loadgen", "--rpc", rpc_urls, "--rate", LOADGEN_RATE)
    states = probe.wait_healthy(ctx.fleet.docker_nodes, timeout=wait)
    print(table(probe.fleet_state(ctx.fleet.docker_nodes)))
    if not states:
        sys.exit(f"the fleet did not become healthy within {wait}s; see `docker logs <node>`")
    kube_up(ctx, wait)
    monitoring.start(ctx.fleet)
    scraped = monitoring.wait_targets_up(ctx.fleet)
    print(f"monitoring: Prometheus {monitoring.PROMETHEUS} ({len(scraped)} targets up), "
          f"Alertmanager {monitoring.ALERTMANAGER}, receiver {monitoring.RECEIVER}")


def kube_up(ctx, wait):
    """The Kubernetes API, its workloads ready, and the us-west nodes following the chain."""
    for node in ctx.fleet.kube_nodes:
        nodes.prepare_data_dir(ctx.fleet, node)
    started = kube.start()
    api = kube.client()
    changed = kube.apply(api, kube.manifests())
    print(f"kubernetes: API {kube.SERVER} {'started' if started else 'already running'}; "
          f"applied {', '.join(changed) or 'nothing (up to date)'}; kubeconfig {kube.KUBECONFIG}")
    rows = kube.wait_ready(api, timeout=wait)
    print(kube.table(kube.workloads(api)))
    if not rows:
        sys.exit(f"the Kubernetes workloads did not become ready within {wait}s; "
                 f"try `KUBECONFIG={kube.KUBECONFIG} kubectl get pods -A`")
    if ctx.fleet.kube_nodes and not probe.wait_healthy(ctx.fleet.kube_nodes, timeout=wait):
        print(table(probe.fleet_state(ctx.fleet.kube_nodes)))
        sys.exit("the us-west nodes did not become healthy; see `kubectl -n bitcell-production logs <pod>`")


def down(ctx):
    stopped = monitoring.stop()
    print(f"monitoring: {'stopped ' + ', '.join(stopped) if stopped else 'not running'}")
    server_stopped, leftovers = kube.stop()
    print(f"kubernetes: {'API and pods stopped' if server_stopped else 'API not running'}"
          f"{f'; {leftovers} leftover pod process(es) stopped' if leftovers else ''}")
    for name in procs.names("flood-") + [LOADGEN]:
        procs.stop(name)
    _remove_iptables_rules()
    if docker_env.PIDFILE.exists() or docker_env.client_available():
        for container in nodes.lab_containers(ctx.docker):
            container.remove(force=True)
    for node in ctx.fleet.nodes:
        nodes.unmount_data_volume(node)
    (topology.STATE / "faults.json").unlink(missing_ok=True)
    print(f"dockerd: {'stopped' if docker_env.stop_dockerd() else 'left as it was (not started by the lab)'}")


def _remove_iptables_rules():
    """Delete every INPUT rule the fault injector tagged, whatever its shape."""
    from .faults import IPTABLES_TAG

    listing = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        if IPTABLES_TAG in line and line.startswith("-A "):
            subprocess.run(["iptables", "-D", *line.split()[1:]], check=True)


def restore_fleet(ctx, wait=120):
    """Every node running with its known-good spec, peered and healthy.

    Nodes that are unhealthy or lost peers are restarted one at a time, probing
    again after each, because one node's restart re-peers the others too.
    """
    for node in ctx.fleet.docker_nodes:
        container = nodes.container(ctx.docker, node)
        if container is None:
            recreate_node(ctx, node)
        elif container.status != "running":
            container.start()
    expected_peers = len(ctx.fleet.nodes) - 1
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(3)  # let dials and syncs settle before judging
        states = probe.fleet_state(ctx.fleet.docker_nodes)
        lagging = [s for s in states if not s["healthy"] or (s["peers"] or 0) < expected_peers]
        if not lagging:
            break
        worst = min(lagging, key=lambda s: (s["healthy"], s["peers"] or 0))
        subprocess.run(["docker", "restart", "--time", "5", worst["node"]], check=True, stdout=subprocess.DEVNULL)
    if not probe.wait_healthy(ctx.fleet.docker_nodes, timeout=max(10, deadline - time.monotonic())):
        sys.exit("the fleet did not come back to healthy; run `lab/labctl status`")


def table(states):
    header = ("node", "region", "height", "peers", "health")
    rows = [(s["node"], s["region"], "-" if s["height"] is None else str(s["height"]),
             "-" if s["peers"] is None else str(s["peers"]),
             "healthy" if s["healthy"] else f"UNHEALTHY ({s['reason']})") for s in states]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab/labctl", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    ctx = Context()
    if args.command == "up":
        up(ctx)
    elif args.command == "down":
        down(ctx)
    else:
        running_nodes = ctx.fleet.nodes if kube.running() else ctx.fleet.docker_nodes
        print(table(probe.fleet_state(running_nodes)))
        print(kube.table(kube.workloads(kube.client())) if kube.running() else "kubernetes: API not running")
        print(monitoring.alerts_text(monitoring.firing()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
