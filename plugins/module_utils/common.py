# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared pieces of the chainops.runbooks module_utils (private API).

``ChainopsError`` is the one exception type that module_utils raise; a module
turns it into ``fail_json(**err.fail_kwargs())``.  The ``check_*`` helpers
validate option values and produce messages that name the argument, the value
and what is allowed, e.g. ``timeout=0 is not allowed; timeout must be > 0
seconds``.
"""

from __future__ import annotations

import math
import re

from urllib.parse import urlsplit, urlunsplit

__all__ = [
    'ChainopsError',
    'check_http_url',
    'check_int_range',
    'check_metric_name',
    'check_number',
    'fmt_value',
    'redact_url',
    'url_secrets',
]

PROMETHEUS_METRIC_NAME_RE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_CONTROL_OR_SPACE_RE = re.compile(r'[\x00-\x20\x7f]')


class ChainopsError(Exception):
    """An error a module reports with ``fail_json``: a message plus result keys.

    ``msg`` must already be safe to show (no secrets); ``details`` become extra
    keys of the failed result.
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def fail_kwargs(self):
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        kwargs = dict(self.details)
        kwargs['msg'] = self.msg
        return kwargs


def fmt_value(value):
    """Render an option value for an error message.

    Strings are quoted (``'ftp:/x'``), integral floats lose their ``.0``
    (``timeout=0``), everything else uses ``repr``.
    """
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if value is None:
        return 'null'
    return repr(value)


def check_number(name, value, minimum=None, exclusive_minimum=False, maximum=None, unit=''):
    """Raise ChainopsError unless ``value`` is a finite number in range.

    Returns the value so the call can be used inline.
    """
    unit_txt = (' ' + unit) if unit else ''
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ChainopsError('%s=%s is not allowed; %s must be a finite number%s' % (
            name, fmt_value(value), name, (' of' + unit_txt) if unit else ''))
    too_low = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high:
        if minimum is not None and maximum is not None and not exclusive_minimum:
            allowed = 'between %s and %s%s' % (fmt_value(minimum), fmt_value(maximum), unit_txt)
        elif minimum is not None and maximum is not None:
            allowed = '> %s and <= %s%s' % (fmt_value(minimum), fmt_value(maximum), unit_txt)
        elif minimum is not None:
            allowed = '%s %s%s' % ('>' if exclusive_minimum else '>=', fmt_value(minimum), unit_txt)
        else:
            allowed = '<= %s%s' % (fmt_value(maximum), unit_txt)
        raise ChainopsError('%s=%s is not allowed; %s must be %s' % (name, fmt_value(value), name, allowed))
    return value


def check_int_range(name, value, minimum=None, maximum=None, unit=''):
    """Like ``check_number`` for integers (inclusive bounds)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChainopsError('%s=%s is not allowed; %s must be an integer' % (name, fmt_value(value), name))
    return check_number(name, value, minimum=minimum, maximum=maximum, unit=unit)


def redact_url(url):
    """Return ``url`` with any password in its user-info part replaced by ``********``."""
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition('@')[2]
    netloc = '%s:********@%s' % (parts.username or '', host)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_secrets(url):
    """Secrets embedded in ``url`` (the user-info password), for ``no_log_values``."""
    if not isinstance(url, str):
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password] if password else []


def check_http_url(name, value):
    """Raise ChainopsError unless ``value`` is an absolute http(s) URL with a host.

    The message shows the value with any embedded password redacted.
    """
    if not isinstance(value, str):
        raise ChainopsError('%s=%s is not an http(s) URL; use http://host[:port]/path or https://host[:port]/path' % (name, fmt_value(value)))
    shown = fmt_value(redact_url(value))
    way_out = 'use http://host[:port]/path or https://host[:port]/path'
    if _CONTROL_OR_SPACE_RE.search(value):
        raise ChainopsError('%s=%s is not an http(s) URL (it contains whitespace or control characters); %s' % (name, shown, way_out))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ChainopsError('%s=%s is not an http(s) URL (%s); %s' % (name, shown, exc, way_out)) from None
    if parts.scheme.lower() not in ('http', 'https') or not parts.hostname:
        raise ChainopsError('%s=%s is not an http(s) URL; %s' % (name, shown, way_out))
    if port == 0:
        raise ChainopsError('%s=%s is not an http(s) URL (port 0); %s' % (name, shown, way_out))
    return value


def check_metric_name(name, value):
    """Raise ChainopsError unless ``value`` matches the Prometheus metric-name grammar."""
    if not isinstance(value, str) or not PROMETHEUS_METRIC_NAME_RE.match(value):
        raise ChainopsError(
            '%s=%s is not a valid Prometheus metric name; names must match [a-zA-Z_:][a-zA-Z0-9_:]*' % (name, fmt_value(value)))
    return value
