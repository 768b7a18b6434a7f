# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the BitCell node simulator (lab/bitcell_node): importing the harness puts lab/ on sys.path."""
from __future__ import annotations

import bitcell_harness  # noqa: F401  pylint: disable=unused-import
