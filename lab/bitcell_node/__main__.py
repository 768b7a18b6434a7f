# SPDX-License-Identifier: GPL-3.0-or-later
"""`python3 -m bitcell_node [command]`."""

import sys

from .cli import main

sys.exit(main())
