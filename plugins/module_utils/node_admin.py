# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""BitCell node admin endpoint (private API): token lookup, status, plans, calls.

The node serves ``POST <admin_url>/admin/<command>`` on its metrics port with
``Authorization: Bearer <token>``; the token is ``$DATA_DIR/admin.token``.  The
plan functions are pure: they take the node's ``status`` reply and the wanted
change and say what would be posted and what the status would become, so check
mode predicts from the same code the real run uses.  Nothing here ever puts the
token into a message.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.http import ProbeError, http_request

COMMANDS = ('status', 'ban', 'unban', 'reset_trust', 'mempool')
# Module command -> the endpoint's command.
ENDPOINTS = {'status': 'status', 'ban': 'ban', 'unban': 'unban', 'reset_trust': 'reset-trust', 'mempool': 'mempool'}
MAX_TOKEN_BYTES = 4096


def clean_token(raw, source):
    """The token text of a token file's bytes, or ChainopsError naming the source (never the content)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode('utf-8')
        except UnicodeDecodeError:
            raise ChainopsError('%s does not hold a text token; point admin_token_path at the node\'s admin.token'
                                % source)
    token = raw.strip()
    if not token:
        raise ChainopsError('%s is empty; the node writes admin.token at its first start, or give admin_token'
                            % source)
    if len(token) > MAX_TOKEN_BYTES or any(c.isspace() for c in token):
        raise ChainopsError('%s does not look like an admin token (one word expected); point admin_token_path at '
                            'the node\'s admin.token' % source)
    return token


def read_local_token(path):
    """The token in a local file (a Kubernetes pod's host data directory, or the node's own disk)."""
    source = 'admin_token_path=%s' % path
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(MAX_TOKEN_BYTES + 1)
    except FileNotFoundError:
        raise ChainopsError('%s does not exist; give the path of the node\'s admin.token (its data directory), '
                            'container to read it inside the container, or admin_token' % source)
    except OSError as exc:
        raise ChainopsError('%s cannot be read: %s; run as a user that may read it, or give admin_token'
                            % (source, exc.strerror or exc))
    return clean_token(raw, source)


def read_container_token(container, path):
    """The token in a file inside a docker container, through the Engine's archive API (no exec)."""
    # The docker SDK is imported by the docker backend; its NotFound is matched by name to keep this file free of it.
    source = 'admin_token_path=%s in container=%s' % (path, container.name)
    try:
        stream, dummy = container.get_archive(path)
    except Exception as exc:  # docker.errors.NotFound / APIError
        if type(exc).__name__ == 'NotFound':
            raise ChainopsError('%s does not exist; give the path of the node\'s admin.token or admin_token' % source)
        raise ChainopsError('%s cannot be read: %s' % (source, type(exc).__name__))
    with tarfile.open(fileobj=io.BytesIO(b''.join(stream)), mode='r') as archive:
        for member in archive:
            if member.isfile() and posixpath.basename(member.name) == posixpath.basename(path):
                return clean_token(archive.extractfile(member).read(MAX_TOKEN_BYTES + 1), source)
    raise ChainopsError('%s is not a regular file; give the path of the node\'s admin.token' % source)


def call(admin_url, token, command, body=None, timeout=5.0, validate_certs=True):
    """POST one admin command; the decoded reply, or ChainopsError (never with the token)."""
    url = '%s/admin/%s' % (admin_url.rstrip('/'), ENDPOINTS[command])
    data = json.dumps(body or {}).encode('utf-8')
    headers = {'Content-Type': 'application/json', 'Accept': 'application/json',
               'Authorization': 'Bearer %s' % token}
    try:
        resp = http_request(url, method='POST', data=data, headers=headers, timeout=timeout,
                            validate_certs=validate_certs)
    except ProbeError as exc:
        raise ChainopsError('admin_url=%s did not answer %s: %s; check the node is up and admin_url is its metrics '
                            'base URL (http://<ip>:<metrics port>)' % (admin_url, command, exc.msg))
    try:
        reply = resp.json()
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        reply = {}
    if resp.status == 401:
        raise ChainopsError('admin_url=%s refused the token (HTTP 401); the token does not match the node\'s '
                            'admin.token: check admin_token / admin_token_path / container' % admin_url,
                            status=401)
    if not resp.ok or reply.get('ok') is not True:
        raise ChainopsError('admin_url=%s %s failed: HTTP %d %s' % (
            admin_url, command, resp.status, str(reply.get('error') or 'unexpected reply')), status=resp.status)
    return reply


def status_view(reply):
    """The parts of a status reply the runbooks use."""
    mempool = reply.get('mempool') or {}
    return {
        'node_id': reply.get('node_id'),
        'height': reply.get('height'),
        'state': reply.get('state'),
        'miners': list(reply.get('miners') or []),
        'banned': sorted(reply.get('banned') or []),
        'eligible': list(reply.get('eligible') or []),
        'active_miners': reply.get('active_miners'),
        'quorum': reply.get('quorum'),
        'peers': len(reply.get('peers') or []),
        'mempool': {
            'pending': mempool.get('pending'),
            'min_fee': mempool.get('min_fee'),
            'mempool_max': mempool.get('mempool_max'),
        },
    }


def check_request(params):
    """Validate the command's arguments; ChainopsError naming argument, value and what is allowed."""
    command = params['command']
    miners = params.get('miners') or []
    blank = [m for m in miners if not isinstance(m, str) or not m.strip()]
    if blank:
        raise ChainopsError('miners=%r is not allowed; give non-empty miner ids (node ids such as '
                            'bitcell-node-us-east-1)' % (miners,))
    if command == 'ban' and not miners:
        raise ChainopsError('command=ban needs miners; give the miner ids to ban')
    if miners and command not in ('ban', 'unban'):
        raise ChainopsError('miners is only allowed with command=ban or command=unban, not command=%s' % command)
    limits = [k for k in ('min_fee', 'mempool_max') if params.get(k) is not None]
    if limits and command != 'mempool':
        raise ChainopsError('%s is only allowed with command=mempool, not command=%s' % (', '.join(limits), command))
    if command == 'mempool':
        if not limits:
            raise ChainopsError('command=mempool needs min_fee and/or mempool_max')
        if params.get('min_fee') is not None and params['min_fee'] < 0:
            raise ChainopsError('min_fee=%d is not allowed; min_fee must be an integer >= 0' % params['min_fee'])
        if params.get('mempool_max') is not None and params['mempool_max'] < 1:
            raise ChainopsError('mempool_max=%d is not allowed; mempool_max must be an integer >= 1'
                                % params['mempool_max'])


def plan(params, before):
    """What the command would do to a node whose status is ``before`` (pure).

    Returns ``(body, after)``: the JSON body to post, or None when there is nothing
    to change, and the predicted status view after it.
    """
    command = params['command']
    miners = list(dict.fromkeys(params.get('miners') or []))
    after = json.loads(json.dumps(before))
    banned = set(before['banned'])
    if command == 'status':
        return None, after
    if command == 'ban':
        unknown = sorted(set(miners) - set(before['miners'])) if before['miners'] else []
        if unknown:
            raise ChainopsError('miners=%s is not allowed; %s not in the miner set (%s)' % (
                ','.join(miners), ', '.join(unknown), ', '.join(before['miners'])))
        if set(miners) <= banned:
            return None, after
        after['banned'] = sorted(banned | set(miners))
        return {'miners': miners}, _eligible(after)
    if command == 'unban':
        if miners:
            if not set(miners) & banned:
                return None, after
            after['banned'] = sorted(banned - set(miners))
            return {'miners': miners}, _eligible(after)
        if not banned:
            return None, after
        after['banned'] = []
        return {'all': True}, _eligible(after)
    if command == 'reset_trust':
        if not banned:
            return None, after
        after['banned'] = []
        return {}, _eligible(after)
    # mempool
    body = {}
    for key in ('min_fee', 'mempool_max'):
        wanted = params.get(key)
        if wanted is not None and wanted != before['mempool'][key]:
            body[key] = wanted
            after['mempool'][key] = wanted
    if not body:
        return None, after
    pending = before['mempool']['pending']
    floor_raised = 'min_fee' in body and (before['mempool']['min_fee'] is None
                                          or body['min_fee'] > before['mempool']['min_fee'])
    if floor_raised or pending is None:
        # Only the node knows the fees of its pending transactions: what a higher floor drops is unknown.
        after['mempool']['pending'] = None
    elif after['mempool']['mempool_max'] is not None:
        after['mempool']['pending'] = min(pending, after['mempool']['mempool_max'])
    return body, after


def _eligible(view):
    if view['miners']:
        view['eligible'] = sorted(set(view['miners']) - set(view['banned']))
    return view
