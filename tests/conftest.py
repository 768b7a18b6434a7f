# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest set-up: the lab package and the test helpers are importable."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO / "lab", REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
