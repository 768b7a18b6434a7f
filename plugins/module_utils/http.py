# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTP GET and JSON-RPC 2.0 POST with per-request timeouts (private API).

Every HTTP answer, whatever its status, comes back as an ``HttpResponse``: a
503 from a health endpoint is data, not an exception.  Transport failures
(refused, reset, timed out, DNS, TLS) raise ``ProbeError`` with a short message
that never contains the URL (URLs may carry credentials) and a ``retryable``
flag.  Requests go through ``ansible.module_utils.urls.Request`` with one shared TLS context.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, SSLValidationError, make_context

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError

__all__ = [
    'DEFAULT_MAX_BYTES',
    'HttpResponse',
    'ProbeError',
    'http_get',
    'http_request',
    'jsonrpc_call',
]

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
USER_AGENT = 'chainops.runbooks'
_CHUNK = 64 * 1024
_MIN_TIMEOUT = 0.001


class ProbeError(ChainopsError):
    """A request that produced no usable answer.

    ``retryable``: trying again may help (timeouts, refused, 5xx...).
    ``responded``: the server sent an HTTP response (so it is reachable).
    """

    def __init__(self, msg, retryable=False, responded=False, status=None, latency_ms=None):
        super().__init__(msg)
        self.retryable = retryable
        self.responded = responded
        self.status = status
        self.latency_ms = latency_ms


class HttpResponse:
    """An HTTP answer: status code, body bytes, headers and round-trip time."""

    __slots__ = ('status', 'reason', 'body', 'headers', 'latency_ms')

    def __init__(self, status, reason, body, headers, latency_ms):
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers
        self.latency_ms = latency_ms

    @property
    def ok(self):
        return 200 <= self.status < 300

    def text(self):
        return self.body.decode('utf-8', errors='replace')

    def json(self):
        """Decoded JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.text())


def _fmt_seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')


def _timeout_for(timeout, deadline_at, clock):
    """Per-request timeout clipped to what is left before ``deadline_at``."""
    if deadline_at is None:
        return timeout, False
    remaining = deadline_at - clock()
    if remaining <= 0:
        raise ProbeError('deadline exceeded')
    if remaining < timeout:
        return max(remaining, _MIN_TIMEOUT), True
    return timeout, False


def _transport_error(exc, timeout, clipped):
    """Translate a transport exception into a ProbeError (no URL in the text)."""
    reason = exc
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
    if isinstance(reason, (socket.timeout, TimeoutError)) or (isinstance(reason, str) and 'timed out' in reason):
        if clipped:
            return ProbeError('deadline exceeded', retryable=False)
        return ProbeError('timed out after %ss' % _fmt_seconds(timeout), retryable=True)
    if isinstance(reason, ConnectionRefusedError):
        return ProbeError('connection refused', retryable=True)
    if isinstance(reason, ConnectionResetError):
        return ProbeError('connection reset by peer', retryable=True)
    if isinstance(reason, http.client.RemoteDisconnected):
        return ProbeError('server closed the connection without a response', retryable=True)
    if isinstance(reason, socket.gaierror):
        return ProbeError('name resolution failed (%s)' % (reason.strerror or reason), retryable=True)
    if isinstance(reason, (ssl.SSLError, SSLValidationError, ssl.CertificateError)):
        return ProbeError('TLS error: %s' % reason, retryable=False)
    if isinstance(reason, http.client.HTTPException):
        return ProbeError('invalid HTTP response (%s)' % (type(reason).__name__,), retryable=True)
    if isinstance(reason, OSError):
        return ProbeError('connection failed (%s)' % (reason.strerror or reason), retryable=True)
    return ProbeError('request failed (%s)' % (reason,), retryable=True)


def _read_body(fp, max_bytes, deadline_at, clock):
    """Read at most ``max_bytes`` from ``fp`` in chunks, honouring the deadline."""
    chunks = []
    size = 0
    while True:
        if deadline_at is not None and clock() >= deadline_at:
            raise ProbeError('deadline exceeded')
        chunk = fp.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise ProbeError('response body larger than %d bytes' % max_bytes, responded=True)
        chunks.append(chunk)
    return b''.join(chunks)


_SSL_CONTEXTS = {}
_SSL_CONTEXTS_LOCK = threading.Lock()


def _ssl_context(validate_certs):
    """One TLS context per verification mode, shared by every request of the run.

    Building one loads the CA store: tens of milliseconds of CPU that open_url
    would otherwise spend again on every request, plain HTTP included.
    """
    with _SSL_CONTEXTS_LOCK:
        if validate_certs not in _SSL_CONTEXTS:
            _SSL_CONTEXTS[validate_certs] = make_context(validate_certs=validate_certs)
        return _SSL_CONTEXTS[validate_certs]


def http_request(url, method='GET', data=None, headers=None, timeout=3.0, validate_certs=True,
                 deadline_at=None, max_bytes=DEFAULT_MAX_BYTES, clock=time.monotonic):
    """Send one request and return an ``HttpResponse`` for any HTTP status.

    ``timeout`` applies to each socket operation and is clipped to the time left
    before ``deadline_at`` (a ``clock()`` value).  Raises ``ProbeError`` when no
    HTTP answer could be obtained.
    """
    effective, clipped = _timeout_for(timeout, deadline_at, clock)
    all_headers = dict(headers or {})
    started = clock()
    resp = None
    try:
        try:
            resp = Request().open(method, url, data=data, headers=all_headers, timeout=effective,
                                  validate_certs=validate_certs, http_agent=USER_AGENT, use_netrc=False,
                                  context=_ssl_context(validate_certs))
            status = resp.getcode()
            reason = getattr(resp, 'reason', '') or ''
            resp_headers = dict(resp.headers.items()) if resp.headers is not None else {}
            body = _read_body(resp, max_bytes, deadline_at, clock)
        except urllib.error.HTTPError as exc:
            resp = exc
            status = exc.code
            reason = exc.reason if isinstance(exc.reason, str) else ''
            resp_headers = dict(exc.headers.items()) if exc.headers is not None else {}
            try:
                body = _read_body(exc, max_bytes, deadline_at, clock) if exc.fp is not None else b''
            except ProbeError:
                raise
            except Exception:
                body = b''
    except ProbeError as exc:
        exc.latency_ms = round((clock() - started) * 1000.0, 1)
        raise
    except (urllib.error.URLError, UrlsConnectionError, OSError, http.client.HTTPException, ValueError) as exc:
        err = _transport_error(exc, effective, clipped)
        err.latency_ms = round((clock() - started) * 1000.0, 1)
        raise err from None
    finally:
        if resp is not None:
            try:
                resp.close()
            except Exception:
                pass
    latency_ms = round((clock() - started) * 1000.0, 1)
    return HttpResponse(status, reason, body, resp_headers, latency_ms)


def http_get(url, timeout=3.0, validate_certs=True, deadline_at=None, headers=None,
             max_bytes=DEFAULT_MAX_BYTES, clock=time.monotonic):
    """GET ``url``; see ``http_request``."""
    return http_request(url, method='GET', headers=headers, timeout=timeout, validate_certs=validate_certs,
                        deadline_at=deadline_at, max_bytes=max_bytes, clock=clock)


def jsonrpc_call(url, method, params=None, timeout=3.0, validate_certs=True, deadline_at=None,
                 request_id=1, clock=time.monotonic):
    """Call a JSON-RPC 2.0 ``method`` over HTTP POST.

    Returns ``(result, latency_ms)``.  Raises ``ProbeError`` on transport
    failure, a non-2xx status, a body that is not a JSON-RPC response, or a
    JSON-RPC ``error`` member (``JSON-RPC error -32601: Method not found``).
    """
    payload = json.dumps({'jsonrpc': '2.0', 'id': request_id, 'method': method,
                          'params': [] if params is None else params}).encode('utf-8')
    resp = http_request(url, method='POST', data=payload, timeout=timeout, validate_certs=validate_certs,
                        headers={'Content-Type': 'application/json', 'Accept': 'application/json'},
                        deadline_at=deadline_at, clock=clock)
    if not resp.ok:
        raise ProbeError('HTTP %d%s' % (resp.status, (' ' + resp.reason) if resp.reason else ''),
                         retryable=resp.status == 429 or resp.status >= 500, responded=True,
                         status=resp.status, latency_ms=resp.latency_ms)
    try:
        doc = resp.json()
    except ValueError:
        raise ProbeError('invalid JSON-RPC response (body is not JSON)', responded=True, status=resp.status,
                         latency_ms=resp.latency_ms) from None
    if not isinstance(doc, dict):
        raise ProbeError('invalid JSON-RPC response (expected an object)', responded=True, status=resp.status,
                         latency_ms=resp.latency_ms)
    error = doc.get('error')
    if error is not None:
        if isinstance(error, dict):
            text = 'JSON-RPC error %s: %s' % (error.get('code'), error.get('message'))
        else:
            text = 'JSON-RPC error: %s' % (error,)
        raise ProbeError(text[:300], responded=True, status=resp.status, latency_ms=resp.latency_ms)
    if 'result' not in doc:
        raise ProbeError('invalid JSON-RPC response (no result)', responded=True, status=resp.status,
                         latency_ms=resp.latency_ms)
    return doc['result'], resp.latency_ms
