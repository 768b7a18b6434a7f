# SPDX-License-Identifier: GPL-3.0-or-later
"""Log lines on stdout: `<ISO-8601 UTC timestamp> <LEVEL> <message>`, flushed per line."""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class LineFormatter(logging.Formatter):
    def format(self, record):
        stamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        line = f"{stamp.replace('+00:00', 'Z')} {_LEVELS.get(record.levelname, record.levelname)} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level=logging.INFO, stream=None):
    logger = logging.getLogger("bitcell")
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(LineFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return logger
