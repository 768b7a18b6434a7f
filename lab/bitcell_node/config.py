# SPDX-License-Identifier: GPL-3.0-or-later
"""Node configuration: `$DATA_DIR/config.toml`, overridden by environment variables.

The environment wins over the file: the runbook repairs a bad peer list by editing
BOOTSTRAP_NODES in the container's environment and recreating the node.
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "/data/bitcell"
CONFIG_FILE = "config.toml"
# 64 KiB sha256 rounds per proof: ~50 ms on one free core with SHA extensions.
DEFAULT_PROOF_WORK = 1500

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(Exception):
    """An unreadable or invalid configuration; `source` names where it came from."""

    def __init__(self, source, message):
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


@dataclass(frozen=True)
class Config:
    node_id: str
    region: str = "default"
    listen_ip: str = "127.0.0.1"
    rpc_port: int = 8545
    metrics_port: int = 9101
    p2p_port: int = 30301
    bootstrap_nodes: tuple = ()
    miners: tuple = ()
    block_interval: float = 2.0
    proof_work: int = DEFAULT_PROOF_WORK
    min_peers: int = 1
    max_txs_per_block: int = 50
    mempool_max: int = 100000
    min_fee: int = 0
    bootstrap_window: float = 60.0
    chain_id: int = 1337

    @property
    def p2p_addr(self):
        return join_addr(self.listen_ip, self.p2p_port)

    @property
    def local_ip(self):
        """The address a local client uses to reach our servers (wildcards mean loopback)."""
        if self.listen_ip in ("0.0.0.0", ""):
            return "127.0.0.1"
        if self.listen_ip == "::":
            return "::1"
        return self.listen_ip


def data_dir_from_env(environ=None):
    environ = os.environ if environ is None else environ
    return Path(environ.get("BITCELL_DATA_DIR") or DEFAULT_DATA_DIR)


def split_addr(text):
    """'ip:port' or '[v6]:port' -> (host, port); raises ValueError."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} has no valid port")
    return host, int(port)


def join_addr(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- typed values: each parser takes a TOML value or an environment string -------------

def _int(value, from_env, minimum=None, maximum=None):
    if from_env:
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be <= {maximum}, got {value}")
    return value


def _port(value, from_env):
    return _int(value, from_env, 1, 65535)


def _seconds(value, from_env, minimum=0.0, strict=False):
    if from_env:
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return value


def _ident(value, from_env):
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise ValueError(f"expected an id of letters, digits, '.', '_' or '-' (max 64), got {value!r}")
    return value.strip()


def _ip(value, from_env):
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address string, got {value!r}")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _list(item_parser):
    def parse(value, from_env):
        if from_env:
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        elif not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        items = []
        for item in value:
            item = item_parser(item, from_env)
            if item not in items:
                items.append(item)
        return tuple(items)
    return parse


def _addr(value, from_env):
    if not isinstance(value, str):
        raise ValueError(f"expected \"host:port\", got {value!r}")
    host, port = split_addr(value)
    return join_addr(host, port)


_FIELDS = {
    "node_id": _ident,
    "region": _ident,
    "listen_ip": _ip,
    "rpc_port": _port,
    "metrics_port": _port,
    "p2p_port": _port,
    "bootstrap_nodes": _list(_addr),
    "miners": _list(_ident),
    "block_interval": lambda v, e: _seconds(v, e, 0.0, strict=True),
    "proof_work": lambda v, e: _int(v, e, 1, 10_000_000),
    "min_peers": lambda v, e: _int(v, e, 0),
    "max_txs_per_block": lambda v, e: _int(v, e, 1, 10_000),
    "mempool_max": lambda v, e: _int(v, e, 1),
    "min_fee": lambda v, e: _int(v, e, 0),
    "bootstrap_window": _seconds,
    "chain_id": lambda v, e: _int(v, e, 1),
}

ENV_OVERRIDES = {
    "NODE_ID": "node_id",
    "REGION": "region",
    "LISTEN_IP": "listen_ip",
    "RPC_PORT": "rpc_port",
    "METRICS_PORT": "metrics_port",
    "P2P_PORT": "p2p_port",
    "BOOTSTRAP_NODES": "bootstrap_nodes",
    "MINERS": "miners",
    "BLOCK_INTERVAL": "block_interval",
    "PROOF_WORK": "proof_work",
}


def load_config(data_dir, environ=None):
    """Read `data_dir/config.toml` and apply environment overrides; raises ConfigError."""
    environ = os.environ if environ is None else environ
    path = Path(data_dir) / CONFIG_FILE
    values = {}
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raw = {}
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(CONFIG_FILE, f"invalid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(CONFIG_FILE, f"cannot read {path}: {err.strerror or err}") from None
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ConfigError(CONFIG_FILE, f"unknown key(s): {', '.join(unknown)}")
    for key, value in raw.items():
        try:
            values[key] = _FIELDS[key](value, False)
        except ValueError as err:
            raise ConfigError(CONFIG_FILE, f"{key}: {err}") from None
    for var, key in ENV_OVERRIDES.items():
        if var in environ:
            try:
                values[key] = _FIELDS[key](environ[var], True)
            except ValueError as err:
                raise ConfigError(f"environment {var}", str(err)) from None
    if "node_id" not in values:
        raise ConfigError(CONFIG_FILE, f"node_id is required (set it in {path} or in NODE_ID)")
    values.setdefault("miners", (values["node_id"],))
    ports = [values.get(k, Config.__dataclass_fields__[k].default) for k in ("rpc_port", "metrics_port", "p2p_port")]
    if len(set(ports)) != 3:
        raise ConfigError(CONFIG_FILE, f"rpc_port, metrics_port and p2p_port must differ, got {ports}")
    return Config(**values)
