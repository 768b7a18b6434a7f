# SPDX-License-Identifier: GPL-3.0-or-later
"""EBSL trust state: the miners this node has banned, persisted in `$DATA_DIR/trust.json`.

Node-local on purpose: a restart keeps the bans; only the admin command clears them.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .chain import write_atomic

log = logging.getLogger("bitcell")

TRUST_FILE = "trust.json"


class TrustStore:
    def __init__(self, data_dir):
        self.path = Path(data_dir) / TRUST_FILE
        self.banned = set()

    def load(self):
        try:
            data = json.loads(self.path.read_text())
            banned = data["banned"]
            if not isinstance(banned, list) or not all(isinstance(m, str) for m in banned):
                raise ValueError("banned is not a list of miner ids")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable %s: %s", self.path, err)
            return
        self.banned = set(banned)
        if self.banned:
            log.warning("trust state: banned miners %s", ",".join(sorted(self.banned)))

    def _replace(self, banned):
        """Persist the new ban set first, so memory never claims what the disk does not hold."""
        data = {"version": 1, "banned": sorted(banned), "updated": round(time.time(), 3)}
        write_atomic(self.path, json.dumps(data, indent=2).encode() + b"\n", mode=0o600)
        self.banned = set(banned)

    def ban(self, miners):
        self._replace(self.banned | set(miners))

    def unban(self, miners):
        self._replace(self.banned - set(miners))

    def reset(self):
        self._replace(set())
