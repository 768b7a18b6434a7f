# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet: every pod is a group of local processes, one per container.

One worker thread per pod starts its containers (image table -> argv, env with
ConfigMap references and downward values), restarts them with a crash backoff,
runs readiness probes against them, writes the pod status, and on deletion sends
SIGTERM, then SIGKILL after the grace period. Each process has a pid file under
`<state>/pids/` so `lab/labctl down` can stop exactly these processes.

Injected into every container's environment (the lab's downward API):
POD_NAME, POD_NAMESPACE, POD_IP (from the pod's `lab.chainops.io/ip-pool`
annotation, by ordinal for StatefulSet pods), PORT (the first containerPort).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from chainlab import procs

from . import images
from .cgroups import PodCgroup
from .events import Recorder
from .resources import BY_PATH
from .store import now

PODS = BY_PATH[("", "pods")]
CONFIGMAPS = BY_PATH[("", "configmaps")]
IP_POOL = "lab.chainops.io/ip-pool"
CGROUP_NOTE = "lab.chainops.io/cgroup"
SYNC_SECONDS = 0.5
MAX_BACKOFF = 30  # seconds; the real kubelet's 10 s .. 5 min, scaled to the lab


class ConfigError(Exception):
    """A container that cannot be configured (missing ConfigMap or key): CreateContainerConfigError."""


def backoff(restarts):
    return min(MAX_BACKOFF, 2 ** max(0, restarts - 1))


def ip_pool(text):
    """`127.0.4.1-127.0.4.10` -> the addresses in that inclusive range."""
    first, _dash, last = text.partition("-")
    start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address((last or first).strip())
    return [str(ipaddress.ip_address(n)) for n in range(int(start), int(end) + 1)]


def choose_ip(pod, taken):
    """The pod's address: its ordinal's in the pool (StatefulSets), else the first free one."""
    pool_text = (pod["metadata"].get("annotations") or {}).get(IP_POOL)
    if not pool_text:
        return "127.0.0.1"
    pool = ip_pool(pool_text)
    ordinal = (pod["metadata"].get("labels") or {}).get("apps.kubernetes.io/pod-index")
    if ordinal is not None and int(ordinal) < len(pool):
        return pool[int(ordinal)]
    free = [ip for ip in pool if ip not in taken]
    if not free:
        raise ConfigError(f"ip pool {pool_text} is exhausted")
    return free[0]


def container_env(pod, container, configmap, injected, image_env=None):
    """The environment, lowest precedence first: image, injected, envFrom, env (with `$(VAR)`)."""
    env = {**(image_env or {}), **injected}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref is None:
            raise ConfigError("only configMapRef is supported in envFrom")
        data = configmap(ref["name"])
        if data is None and not ref.get("optional"):
            raise ConfigError(f'configmap "{ref["name"]}" not found')
        env.update({source.get("prefix", "") + k: v for k, v in (data or {}).items()})
    for var in container.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = images.expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = configmap(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'couldn\'t find key {ref["key"]} in ConfigMap {pod["metadata"]["namespace"]}/'
                                  f'{ref["name"]}')
            env[var["name"]] = data[ref["key"]]
        elif "fieldRef" in source:
            env[var["name"]] = _field(pod, source["fieldRef"]["fieldPath"], injected)
        else:
            raise ConfigError(f"env {var['name']}: only configMapKeyRef and fieldRef are supported")
    return env


def _field(pod, path, injected):
    fields = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": pod["metadata"]["namespace"],
              "metadata.uid": pod["metadata"]["uid"], "status.podIP": injected.get("POD_IP", ""),
              "spec.nodeName": "chainops-lab", "status.hostIP": "127.0.0.1"}
    if path not in fields:
        raise ConfigError(f"fieldRef {path} is not supported")
    return fields[path]


class Container:
    """What the kubelet remembers about one container of one pod."""

    def __init__(self, spec, restarts=0):
        self.spec, self.restarts = spec, restarts
        self.proc = self.started = self.env = None
        self.ready = False
        self.waiting = ("ContainerCreating", "")
        self.last = None           # the last termination, as a ContainerStateTerminated
        self.next_start = 0.0
        self.probe_due = 0.0
        self.probe_failures = 0


class PodWorker(threading.Thread):
    def __init__(self, kubelet, pod):
        super().__init__(name=f"pod-{pod['metadata']['name']}", daemon=True)
        self.kubelet, self.store = kubelet, kubelet.store
        self.ns, self.name, self.uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        self.dir = kubelet.pod_dir(pod)
        previous = {s["name"]: s.get("restartCount", 0) for s in pod.get("status", {}).get("containerStatuses") or []}
        self.containers = {c["name"]: Container(c, previous.get(c["name"], 0)) for c in pod["spec"]["containers"]}
        limits = {}
        for spec in pod["spec"]["containers"]:  # one cgroup per pod; the lab's pods have one container
            for key, value in ((spec.get("resources") or {}).get("limits") or {}).items():
                limits.setdefault(key, value)
        self.cgroup = PodCgroup(f"{self.ns}_{self.name}_{self.uid[:8]}", limits)
        self.ip = (pod.get("status") or {}).get("podIP")  # held until this worker's processes are gone
        self.stopping = threading.Event()

    # --- the loop ---------------------------------------------------------------------

    def run(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        while True:
            pod = self.store.get(PODS, self.ns, self.name)
            if self.stopping.is_set():       # the kubelet shuts down: stop processes, keep the pod
                return self._stop_all(5, remove=False)
            if pod is None or pod["metadata"]["uid"] != self.uid:
                return self._stop_all(0)     # force-deleted: kill now
            if pod["metadata"].get("deletionTimestamp"):
                grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
                self.kubelet.events.record(pod, "Killing", f"Stopping container(s) with grace period {grace}s")
                self._stop_all(grace)
                current = self.store.get(PODS, self.ns, self.name)
                if current and current["metadata"]["uid"] == self.uid:
                    self.store.delete(PODS, self.ns, self.name)
                return None
            try:
                self._sync(pod)
            except Exception as err:  # noqa: BLE001 - one pod's surprise must not kill the kubelet
                print(f"kubelet: pod {self.ns}/{self.name}: {err!r}", flush=True)
            self.stopping.wait(SYNC_SECONDS)

    def _sync(self, pod):
        status = pod.get("status") or {}
        if not status.get("podIP"):
            status = {**status, "podIP": self.kubelet.allocate_ip(pod), "startTime": now()}
        self.ip = status["podIP"]
        for container in self.containers.values():
            self._sync_container(pod, status["podIP"], container)
        self._write_status(pod, status)

    def _sync_container(self, pod, pod_ip, c):
        if c.proc is not None and c.proc.poll() is not None:
            self._exited(pod, c)
        policy = pod["spec"].get("restartPolicy", "Always")
        may_start = c.last is None or policy == "Always" or (policy == "OnFailure" and c.last["exitCode"] != 0)
        if c.proc is None and may_start and time.monotonic() >= c.next_start:
            self._start(pod, pod_ip, c)
        if c.proc is not None and time.monotonic() >= c.probe_due:
            self._probe(pod_ip, c)

    def _start(self, pod, pod_ip, c):
        spec = c.spec
        try:
            image, tag = images.resolve(spec["image"])
            ports = spec.get("ports") or []
            injected = {"POD_NAME": self.name, "POD_NAMESPACE": self.ns, "POD_IP": pod_ip, "HOSTNAME": self.name}
            if ports:
                injected["PORT"] = str(ports[0]["containerPort"])
            image_env = {"PATH": os.pathsep.join(p for p in (image.path, os.environ.get("PATH", "")) if p),
                         "APP_VERSION": tag, "IMAGE": spec["image"], **image.env}
            env = container_env(pod, spec, self.kubelet.configmap_data(self.ns), injected, image_env)
            argv = images.argv(image, spec.get("command"), spec.get("args"), env)
        except images.ImageError as err:
            return self._wait(pod, c, "ErrImagePull" if c.waiting[0] != "ErrImagePull" else "ImagePullBackOff",
                              str(err), "Failed")
        except ConfigError as err:
            return self._wait(pod, c, "CreateContainerConfigError", str(err), "Failed")
        log = open(self.kubelet.log_path(pod, spec["name"]), "ab")
        try:
            c.proc = subprocess.Popen(argv, env=env, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            return self._wait(pod, c, "RunContainerError", f"cannot start {argv[0]}: {err.strerror}", "Failed")
        finally:
            log.close()
        self.cgroup.add(c.proc.pid)
        self.kubelet.pidfile(self, spec["name"]).write_text(str(c.proc.pid))
        c.started, c.waiting, c.ready, c.env = now(), None, False, env
        probe = spec.get("readinessProbe") or {}
        c.probe_due = time.monotonic() + probe.get("initialDelaySeconds", 0)
        self.kubelet.events.record(pod, "Started", f"Started container {spec['name']} (pid {c.proc.pid})")
        return None

    def _wait(self, pod, c, reason, message, event_reason):
        if c.waiting != (reason, message):
            self.kubelet.events.record(pod, event_reason, message, "Warning")
        c.waiting = (reason, message)
        c.next_start = time.monotonic() + backoff(c.restarts + 1)

    def _exited(self, pod, c):
        code = c.proc.returncode
        c.last = {"exitCode": code if code >= 0 else 128 - code, "reason": "Completed" if code == 0 else "Error",
                  "startedAt": c.started, "finishedAt": now(), "containerID": f"process://{c.proc.pid}"}
        if code < 0:
            c.last["signal"] = -code
        self.kubelet.pidfile(self, c.spec["name"]).unlink(missing_ok=True)
        c.proc, c.ready = None, False
        if pod["spec"].get("restartPolicy", "Always") != "Never":
            c.restarts += 1
            c.next_start = time.monotonic() + backoff(c.restarts)
            c.waiting = ("CrashLoopBackOff", f"back-off {backoff(c.restarts)}s restarting failed container="
                                             f"{c.spec['name']} pod={self.name}")
            self.kubelet.events.record(pod, "BackOff", f"Back-off restarting failed container {c.spec['name']} "
                                                       f"(exit code {c.last['exitCode']})", "Warning")

    def _probe(self, pod_ip, c):
        probe = c.spec.get("readinessProbe")
        if not probe:
            c.ready = True
            c.probe_due = float("inf")
            return
        c.probe_due = time.monotonic() + probe.get("periodSeconds", 10)
        ok = self._probe_once(probe, pod_ip, c)
        c.probe_failures = 0 if ok else c.probe_failures + 1
        if ok:
            c.ready = True
        elif c.probe_failures >= probe.get("failureThreshold", 3):
            c.ready = False

    def _probe_once(self, probe, pod_ip, c):
        timeout = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = get["port"]
            if not str(port).isdigit():
                port = next(p["containerPort"] for p in c.spec.get("ports") or [] if p.get("name") == port)
            url = f"{get.get('scheme', 'HTTP').lower()}://{get.get('host') or pod_ip}:{port}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as reply:
                    return 200 <= reply.status < 400
            except (urllib.error.URLError, OSError, ValueError):
                return False
        if "exec" in probe:
            try:
                return subprocess.run(probe["exec"]["command"], cwd=self.dir, env=c.env, timeout=max(timeout, 1),
                                      capture_output=True, check=False).returncode == 0
            except (subprocess.TimeoutExpired, OSError):
                return False
        return True

    # --- status ----------------------------------------------------------------------------

    def _write_status(self, pod, status):
        statuses = [self._container_status(c) for c in self.containers.values()]
        running = any(c.proc is not None for c in self.containers.values())
        started_ever = running or any(c.last for c in self.containers.values())
        all_ready = all(c.ready for c in self.containers.values())
        phase = "Running" if started_ever else "Pending"
        if not running and pod["spec"].get("restartPolicy") in ("Never", "OnFailure") and \
                all(c.last for c in self.containers.values()):
            phase = "Succeeded" if all(c.last["exitCode"] == 0 for c in self.containers.values()) else "Failed"
        old = {c["type"]: c for c in status.get("conditions") or []}
        conditions = [_condition(old, kind, ok) for kind, ok in (
            ("PodReadyToStartContainers", True), ("Initialized", True), ("Ready", all_ready),
            ("ContainersReady", all_ready), ("PodScheduled", True))]
        new_status = {**status, "phase": phase, "conditions": conditions, "containerStatuses": statuses,
                      "hostIP": "127.0.0.1", "podIPs": [{"ip": status["podIP"]}], "qosClass": "Burstable"}
        if new_status == pod.get("status") and (pod["metadata"].get("annotations") or {}).get(CGROUP_NOTE) \
                == self.cgroup.applied:
            return

        def write(obj):
            if obj["metadata"]["uid"] == self.uid and not obj["metadata"].get("deletionTimestamp"):
                obj["status"] = new_status
                obj["metadata"].setdefault("annotations", {})[CGROUP_NOTE] = self.cgroup.applied
        self.store.mutate(PODS, self.ns, self.name, write)

    def _container_status(self, c):
        if c.proc is not None:
            state = {"running": {"startedAt": c.started}}
        elif c.waiting:
            state = {"waiting": {"reason": c.waiting[0], **({"message": c.waiting[1]} if c.waiting[1] else {})}}
        else:
            state = {"terminated": c.last}
        return {"name": c.spec["name"], "image": c.spec["image"], "imageID": f"lab://{c.spec['image']}",
                "containerID": f"process://{c.proc.pid}" if c.proc else "", "ready": c.ready,
                "started": c.proc is not None, "restartCount": c.restarts, "state": state,
                "lastState": {"terminated": c.last} if c.last else {}}

    # --- stopping ----------------------------------------------------------------------------

    def _stop_all(self, grace, remove=True):
        live = [c for c in self.containers.values() if c.proc is not None and c.proc.poll() is None]
        for c in live:
            _signal_group(c.proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        deadline = time.monotonic() + grace
        for c in live:
            try:
                c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(c.proc.pid, signal.SIGKILL)
                c.proc.wait()
        for c in self.containers.values():
            self.kubelet.pidfile(self, c.spec["name"]).unlink(missing_ok=True)
        self.cgroup.remove()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _condition(old, kind, ok):
    status = "True" if ok else "False"
    previous = old.get(kind, {})
    stamp = previous.get("lastTransitionTime") if previous.get("status") == status else now()
    return {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": stamp}


class Kubelet(threading.Thread):
    def __init__(self, store, state_dir):
        super().__init__(name="kubelet", daemon=True)
        self.store, self.state = store, Path(state_dir)
        self.events = Recorder(store, "kubelet")
        self.workers = {}
        self.ip_lock = threading.Lock()
        self.stopped = threading.Event()
        (self.state / "pids").mkdir(parents=True, exist_ok=True)

    def pod_dir(self, pod):
        """The pod's working directory and logs, keyed by uid so a recreated pod starts clean."""
        return self.state / "pods" / pod["metadata"]["uid"]

    def log_path(self, pod, container):
        return self.pod_dir(pod) / f"{container}.log"

    def pidfile(self, worker, container):
        return self.state / "pids" / f"{worker.ns}.{worker.name}.{container}.pid"

    def configmap_data(self, namespace):
        def lookup(name):
            cm = self.store.get(CONFIGMAPS, namespace, name)
            return None if cm is None else (cm.get("data") or {})
        return lookup

    def allocate_ip(self, pod):
        """Choose and record the pod's address under one lock, so two new pods never share one.

        Addresses of force-deleted pods whose processes are still being killed stay taken:
        the new pod would otherwise fail to bind.
        """
        with self.ip_lock:
            taken = {p.get("status", {}).get("podIP") for p in self.store.list(PODS)[0]
                     if p["metadata"]["uid"] != pod["metadata"]["uid"]}
            taken |= {w.ip for uid, w in list(self.workers.items())
                      if uid != pod["metadata"]["uid"] and w.is_alive()}
            ip = choose_ip(pod, taken)

            def record(obj):
                obj.setdefault("status", {})["podIP"] = ip
            self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], record)
            return ip

    def stop_leftovers(self):
        """Processes of a previous run of the server (their pid files survived it): stop them."""
        for pidfile in (self.state / "pids").glob("*.pid"):
            procs.terminate(int(pidfile.read_text()), wait=5)
            pidfile.unlink()

    def run(self):
        rv = -1
        while not self.stopped.is_set():
            for pod in self.store.list(PODS)[0]:
                uid = pod["metadata"]["uid"]
                if uid not in self.workers:
                    self.workers[uid] = PodWorker(self, pod)
                    self.workers[uid].start()
            self.workers = {uid: w for uid, w in self.workers.items() if w.is_alive()}
            rv = self.store.wait_change(rv, SYNC_SECONDS)
            time.sleep(0.1)

    def shutdown(self):
        self.stopped.set()
        for worker in list(self.workers.values()):
            worker.stopping.set()
        for worker in list(self.workers.values()):
            worker.join(timeout=15)
