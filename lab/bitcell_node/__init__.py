# SPDX-License-Identifier: GPL-3.0-or-later
"""BitCell node simulator: a small but real blockchain node for the chainops lab.

Standard library only (Python 3.11): it runs in a minimal image that holds
nothing but Debian's python3.11 and busybox.
"""

__version__ = "0.1.0"
