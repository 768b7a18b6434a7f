# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small client for the Prometheus HTTP API (private API).

* ``PrometheusClient.query`` (``/api/v1/query``) and ``query_range``
  (``/api/v1/query_range``) return ``(result_type, result, warnings)`` with
  the result already converted to plain data: a vector is a list of
  ``{metric, value, timestamp}``, a matrix a list of ``{metric, values}``
  with ``values`` as ``[[timestamp, value], ...]``, a scalar or string one
  ``{timestamp, value}``.  Sample values are floats; NaN and infinities (which
  JSON cannot carry) become ``None``.
* Every failure raises ``PrometheusError`` (a ``ChainopsError``) with a message
  that names the argument and value to change and never shows a password:
  ``url=http://127.0.0.1:9 is unreachable: connection refused``, or
  ``Prometheus rejected query='up{' (bad_data): 1:4: parse error: ...``.
* ``parse_time``, ``parse_duration`` and ``check_base_url`` validate the
  option values of ``prometheus_query`` and of ``fleet_probe``'s
  ``prometheus_url``.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
import time

from urllib.parse import urlencode, urlsplit

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_http_url,
    fmt_value,
    redact_url,
)
from ansible_collections.chainops.runbooks.plugins.module_utils.http import ProbeError, http_get

__all__ = [
    'MAX_POINTS',
    'PrometheusClient',
    'PrometheusError',
    'check_base_url',
    'check_query_params',
    'convert_result',
    'parse_duration',
    'parse_time',
    'prometheus_value',
]

# Prometheus refuses range queries with more points per series than this.
MAX_POINTS = 11000
_MAX_ERROR_TEXT = 500
_DURATION_RE = re.compile(r'^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$')
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_RELATIVE_RE = re.compile(r'^now\s*(?:([+-])\s*(\S+))?$')
_NUMBER_RE = re.compile(r'^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')


class PrometheusError(ChainopsError):
    """A Prometheus request that failed; ``msg`` is safe to show."""


def check_base_url(name, value):
    """An http(s) base URL without query or fragment; returned without a trailing slash."""
    check_http_url(name, value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ChainopsError('%s=%s is not allowed; give the Prometheus base URL without ?query or #fragment, '
                            'for example http://prometheus:9090' % (name, fmt_value(redact_url(value))))
    return value.rstrip('/')


def parse_duration(name, value):
    """Seconds (> 0) from a number or a Prometheus duration such as ``15s``, ``1m30s``, ``250ms``."""
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.match(text):
            seconds = float(text)
        else:
            match = _DURATION_RE.match(text)
            if text and match and any(match.groups()):
                seconds = sum(int(group) * unit for group, unit in zip(match.groups(), _DURATION_UNITS) if group)
    if seconds is None or not math.isfinite(seconds):
        raise ChainopsError('%s=%s is not allowed; %s must be a number of seconds or a duration such as 15s, 1m or 1h30m' % (
            name, fmt_value(value), name))
    if seconds <= 0:
        raise ChainopsError('%s=%s is not allowed; %s must be > 0 seconds' % (name, fmt_value(value), name))
    return seconds


def parse_time(name, value, now=None):
    """Unix seconds from a number, an RFC 3339 date or ``now``/``now-10m``/``now+1h``."""
    if now is None:
        now = time.time()
    way_out = ('%s must be unix seconds (1700000000), an RFC 3339 time (2024-01-31T12:00:00Z) '
               'or now, now-10m, now+1h' % name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), way_out))
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), way_out))
    text = value.strip()
    if _NUMBER_RE.match(text):
        return float(text)
    match = _RELATIVE_RE.match(text.lower())
    if match:
        if not match.group(1):
            return float(now)
        try:
            offset = parse_duration(name, match.group(2))
        except ChainopsError:
            raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), way_out)) from None
        return float(now) + (offset if match.group(1) == '+' else -offset)
    iso = text[:-1] + '+00:00' if text[-1:] in ('Z', 'z') else text
    try:
        parsed = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise ChainopsError('%s=%s is not allowed; %s' % (name, fmt_value(value), way_out)) from None
    if parsed.tzinfo is None:
        raise ChainopsError('%s=%s has no time zone; add Z or an offset such as +00:00 (%s)' % (
            name, fmt_value(value), way_out))
    return parsed.timestamp()


def check_query_params(params, now=None):
    """Validate ``query``, ``type``, ``time``, ``start``, ``end``, ``step`` of prometheus_query.

    Returns ``{'time': t}`` for an instant query (``None``: Prometheus's now)
    or ``{'start', 'end', 'step'}`` (unix seconds) for a range query.
    """
    if now is None:
        now = time.time()
    query = params.get('query')
    if not isinstance(query, str) or not query.strip():
        raise ChainopsError('query=%s is not allowed; give a PromQL expression such as up{job="bitcell-nodes"}' % (
            fmt_value(query),))
    kind = params.get('type') or 'instant'
    if kind == 'instant':
        for name in ('start', 'end', 'step'):
            if params.get(name) is not None:
                raise ChainopsError('%s=%s is only used with type=range; remove it or set type=range' % (
                    name, fmt_value(params[name])))
        at = params.get('time')
        return {'time': None if at is None else parse_time('time', at, now)}
    if params.get('time') is not None:
        raise ChainopsError('time=%s is only used with type=instant; use start and end with type=range' % (
            fmt_value(params['time']),))
    for name in ('start', 'step'):
        if params.get(name) is None:
            raise ChainopsError('%s is required with type=range' % name)
    start = parse_time('start', params['start'], now)
    end = parse_time('end', params['end'], now) if params.get('end') is not None else float(now)
    step = parse_duration('step', params['step'])
    if start >= end:
        shown_end = params['end'] if params.get('end') is not None else 'now'
        raise ChainopsError('start=%s is not allowed with end=%s; start must be before end' % (
            fmt_value(params['start']), fmt_value(shown_end)))
    points = (end - start) / step
    if points > MAX_POINTS:
        raise ChainopsError('step=%s is not allowed for %s seconds from start to end; that is %d points and Prometheus '
                            'allows at most %d per series: use step >= %s seconds' % (
                                fmt_value(params['step']), _fmt_number(end - start), int(points), MAX_POINTS,
                                _fmt_number(math.ceil((end - start) / MAX_POINTS))))
    return {'start': start, 'end': end, 'step': step}


def prometheus_value(text):
    """A Prometheus sample value (a string such as ``"1"``, ``"NaN"``) as float; None when not finite."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _timestamp(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sample(pair):
    if isinstance(pair, list) and len(pair) == 2:
        return [_timestamp(pair[0]), prometheus_value(pair[1])]
    return [None, None]


def convert_result(result_type, result):
    """Plain data from the ``data.result`` member of a Prometheus answer."""
    if result_type == 'vector':
        series = []
        for item in result or []:
            item = item if isinstance(item, dict) else {}
            entry = {'metric': dict(item.get('metric') or {})}
            if 'histogram' in item:
                pair = item['histogram'] if isinstance(item['histogram'], list) and len(item['histogram']) == 2 else [None, None]
                entry.update({'timestamp': _timestamp(pair[0]), 'value': None, 'histogram': pair[1]})
            else:
                timestamp, value = _sample(item.get('value'))
                entry.update({'timestamp': timestamp, 'value': value})
            series.append(entry)
        return series
    if result_type == 'matrix':
        series = []
        for item in result or []:
            item = item if isinstance(item, dict) else {}
            entry = {'metric': dict(item.get('metric') or {}),
                     'values': [_sample(pair) for pair in item.get('values') or []]}
            if item.get('histograms'):
                entry['histograms'] = item['histograms']
            series.append(entry)
        return series
    if result_type == 'scalar':
        timestamp, value = _sample(result)
        return {'timestamp': timestamp, 'value': value}
    if result_type == 'string':
        if isinstance(result, list) and len(result) == 2:
            return {'timestamp': _timestamp(result[0]), 'value': result[1]}
        return {'timestamp': None, 'value': None}
    return result


def _fmt_number(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')


class PrometheusClient:
    """Queries one Prometheus server.

    ``url`` is the base URL (``http://prometheus:9090`` or with a path prefix);
    ``username``/``password`` give HTTP basic auth and ``token`` a bearer token.
    Retryable failures (refused, reset, timeouts, HTTP 429/502/503/504) are
    retried ``retries`` times with exponential backoff, never past
    ``deadline_at`` (a ``clock()`` value).
    """

    def __init__(self, url, timeout=10.0, validate_certs=True, username=None, password=None, token=None,
                 retries=0, retry_backoff=0.5, deadline_at=None, clock=time.monotonic, sleep=time.sleep,
                 url_name='url'):
        self.url = check_base_url(url_name, url)
        self.url_name = url_name
        self.shown_url = redact_url(self.url)
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.deadline_at = deadline_at
        self.clock = clock
        self.sleep = sleep
        self.headers = {'Accept': 'application/json'}
        if token:
            self.headers['Authorization'] = 'Bearer %s' % token
        elif username is not None or password is not None:
            raw = ('%s:%s' % (username or '', password or '')).encode('utf-8')
            self.headers['Authorization'] = 'Basic %s' % base64.b64encode(raw).decode('ascii')

    def query(self, promql, at=None):
        """Instant query; ``at`` is unix seconds (None: Prometheus's now)."""
        params = {'query': promql}
        if at is not None:
            params['time'] = _fmt_number(at)
        return self._call('/api/v1/query', params, promql)

    def query_range(self, promql, start, end, step):
        """Range query over ``[start, end]`` (unix seconds) every ``step`` seconds."""
        params = {'query': promql, 'start': _fmt_number(start), 'end': _fmt_number(end), 'step': _fmt_number(step)}
        return self._call('/api/v1/query_range', params, promql)

    # -- internals -------------------------------------------------------------

    def _request(self, url):
        return http_get(url, timeout=self.timeout, validate_certs=self.validate_certs, deadline_at=self.deadline_at,
                        headers=self.headers, clock=self.clock)

    def _get(self, url):
        """GET with retries; returns the HttpResponse of the last attempt."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._request(url)
            except ProbeError as exc:
                if exc.retryable and self._may_retry(attempt):
                    continue
                tried = '' if attempt == 1 else '; tried %d times' % attempt
                raise PrometheusError('%s=%s is unreachable: %s%s; check that Prometheus runs there and that %s is its '
                                      'base URL' % (self.url_name, self.shown_url, exc.msg, tried, self.url_name)) from None
            if resp.status in (429, 502, 503, 504) and self._may_retry(attempt):
                continue
            return resp

    def _may_retry(self, attempt):
        if attempt > self.retries:
            return False
        delay = self.retry_backoff * (2 ** (attempt - 1))
        if self.deadline_at is not None and self.clock() + delay >= self.deadline_at:
            return False
        if delay > 0:
            self.sleep(delay)
        return True

    def _call(self, path, params, promql):
        url = self.url + path + '?' + urlencode(params)
        resp = self._get(url)
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get('status') not in ('success', 'error'):
            raise PrometheusError(
                '%s=%s did not answer like the Prometheus HTTP API (HTTP %d%s for %s); %s must be the Prometheus base '
                'URL, such as http://prometheus:9090' % (
                    self.url_name, self.shown_url, resp.status, (' ' + resp.reason) if resp.reason else '', path,
                    self.url_name))
        if doc['status'] == 'error' or not resp.ok:
            error_type = doc.get('errorType') or 'HTTP %d' % resp.status
            error_text = str(doc.get('error') or resp.reason or 'no error text').strip()[:_MAX_ERROR_TEXT]
            if resp.status in (401, 403):
                raise PrometheusError('%s=%s refused the request (%s: %s); check username/password or token' % (
                    self.url_name, self.shown_url, error_type, error_text))
            if error_type == 'bad_data':
                raise PrometheusError('Prometheus rejected query=%s (%s): %s' % (fmt_value(promql), error_type, error_text))
            raise PrometheusError('Prometheus could not run query=%s (%s): %s' % (fmt_value(promql), error_type, error_text))
        data = doc.get('data')
        if not isinstance(data, dict) or 'resultType' not in data:
            raise PrometheusError('%s=%s answered query=%s without data.resultType; is it a Prometheus server?' % (
                self.url_name, self.shown_url, fmt_value(promql)))
        warnings = [str(w) for w in doc.get('warnings') or []]
        return data['resultType'], convert_result(data['resultType'], data.get('result')), warnings
