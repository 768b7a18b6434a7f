# SPDX-License-Identifier: GPL-3.0-or-later
"""The chainops.runbooks lab: a small but real BitCell fleet on one machine."""
