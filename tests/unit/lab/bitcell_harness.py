# SPDX-License-Identifier: GPL-3.0-or-later
"""Spawn real BitCell node processes on loopback addresses and talk to them."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LAB = Path(__file__).resolve().parents[3] / "lab"
if str(LAB) not in sys.path:
    sys.path.insert(0, str(LAB))

from bitcell_node.config import ENV_OVERRIDES  # noqa: E402  pylint: disable=wrong-import-position

# Variables of the test runner's environment that must not leak into a spawned node.
OVERRIDE_VARS = (*ENV_OVERRIDES, "BITCELL_DATA_DIR")


def node_env(data_dir, extra=None):
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDE_VARS}
    env["PYTHONPATH"] = str(LAB)
    env["BITCELL_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


def free_ports(ip, count):
    """`count` distinct ports that are free on `ip` right now."""
    sockets = []
    try:
        for dummy in range(count):
            sock = socket.socket()
            sock.bind((ip, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def toml_value(value):
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(data_dir, values):
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items())
    (Path(data_dir) / "config.toml").write_text(text)


def flip_byte(path, marker=b'"payload":"'):
    """Corrupt a block file the way a bad disk would: one byte inside its payload."""
    data = bytearray(Path(path).read_bytes())
    index = data.index(marker) + len(marker) + 10
    data[index] = ord("1") if data[index] == ord("0") else ord("0")
    Path(path).write_bytes(bytes(data))


def wait_until(predicate, timeout, interval=0.1, message="condition"):
    """Poll until `predicate()` is truthy; returns its value or fails with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value {value!r})")
        time.sleep(interval)


def http_get(url, timeout=2.0):
    """(status, body text); status None if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return None, ""


def http_post(url, body, headers=None, timeout=2.0):
    request = urllib.request.Request(url, data=body if isinstance(body, bytes) else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def run_cli(*args, data_dir=None, env=None, timeout=20):
    return subprocess.run([sys.executable, "-m", "bitcell_node", *map(str, args)], capture_output=True, text=True,
                          env=node_env(data_dir or "/nonexistent", env), timeout=timeout, check=False)


class NodeProcess:
    """One node: its data directory, config, process and endpoints."""

    def __init__(self, root, node_id, ip, **config):
        self.node_id, self.ip = node_id, ip
        self.data_dir = Path(root) / node_id
        self.rpc_port, self.metrics_port, self.p2p_port = free_ports(ip, 3)
        self.config = {"node_id": node_id, "listen_ip": ip, "rpc_port": self.rpc_port,
                       "metrics_port": self.metrics_port, "p2p_port": self.p2p_port, **config}
        self.proc = None
        self.log_path = self.data_dir.parent / f"{node_id}.log"
        self._log = None

    @property
    def p2p_addr(self):
        return f"{self.ip}:{self.p2p_port}"

    def write_config(self):
        write_config(self.data_dir, self.config)

    def start(self, env=None):
        assert not self.running(), f"{self.node_id} already running"
        self.write_config()
        self._log = open(self.log_path, "ab")   # pylint: disable=consider-using-with
        self.proc = subprocess.Popen([sys.executable, "-m", "bitcell_node", "run"], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=node_env(self.data_dir, env))
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal the process by pid and reap it (SIGKILL if it does not stop in time)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self._log:
            self._log.close()
            self._log = None
        code, self.proc = self.proc.returncode, None
        return code

    def wait_exit(self, timeout):
        code = self.proc.wait(timeout)
        self.stop()
        return code

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- endpoints ---------------------------------------------------------------------------------

    def rpc(self, method, params=None):
        status, text = http_post(f"http://{self.ip}:{self.rpc_port}/",
                                 {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        reply = json.loads(text)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def height(self):
        """Chain height over JSON-RPC, None if the node does not answer."""
        try:
            return int(self.rpc("eth_blockNumber"), 16)
        except (OSError, ValueError, RuntimeError):
            return None

    def block_hash(self, height):
        block = self.rpc("eth_getBlockByNumber", [hex(height), False])
        return block and block["hash"]

    def health(self):
        status, text = http_get(f"http://{self.ip}:{self.metrics_port}/health")
        return status, (json.loads(text) if status else None)

    def metrics(self):
        return http_get(f"http://{self.ip}:{self.metrics_port}/metrics")[1]

    def metric(self, name):
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def peer_count(self):
        try:
            return int(self.rpc("net_peerCount"), 16)
        except (OSError, ValueError, RuntimeError):
            return None

    def cli(self, *args, timeout=20):
        return run_cli(*args, data_dir=self.data_dir, timeout=timeout)
