# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_admin: plans from the status (pure), bad input, and a run against a fake admin endpoint
that proves idempotence, check mode and that the token never leaves the module."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.chainops.runbooks.plugins.module_utils import node_admin as admin
from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.modules import node_admin
from helpers.module_main import run_module_main

MINERS = ['m1', 'm2', 'm3', 'm4', 'm5']
TOKEN = 'f00dfeedcafe0123456789abcdef0123456789abcdef0123456789abcdef9999'


def view(banned=(), pending=10, min_fee=0, mempool_max=100000):
    return admin.status_view({'node_id': 'm1', 'height': 7, 'state': 'running', 'miners': MINERS,
                              'banned': list(banned), 'eligible': sorted(set(MINERS) - set(banned)),
                              'active_miners': 5 - len(banned), 'quorum': len(banned) < 2, 'peers': [],
                              'mempool': {'pending': pending, 'min_fee': min_fee, 'mempool_max': mempool_max}})


def params(command, **kwargs):
    return dict({'command': command, 'miners': [], 'min_fee': None, 'mempool_max': None}, **kwargs)


@pytest.mark.parametrize('command', ['unban', 'reset_trust'])
def test_nothing_banned_posts_nothing(command):
    body, after = admin.plan(params(command), view())
    assert body is None and after == view()


def test_unban_all_and_named():
    body, after = admin.plan(params('unban'), view(banned=['m1', 'm2']))
    assert body == {'all': True} and after['banned'] == [] and after['eligible'] == sorted(MINERS)
    body, after = admin.plan(params('unban', miners=['m2']), view(banned=['m1', 'm2']))
    assert body == {'miners': ['m2']} and after['banned'] == ['m1']
    assert admin.plan(params('unban', miners=['m3']), view(banned=['m1']))[0] is None


def test_reset_trust_clears_every_ban():
    body, after = admin.plan(params('reset_trust'), view(banned=['m4']))
    assert body == {} and after['banned'] == []


def test_ban_only_what_is_missing_and_only_known_miners():
    assert admin.plan(params('ban', miners=['m1']), view(banned=['m1']))[0] is None
    assert admin.plan(params('ban', miners=['m1', 'm2']), view(banned=['m1']))[0] == {'miners': ['m1', 'm2']}
    with pytest.raises(ChainopsError, match='miners=m9 is not allowed; m9 not in the miner set'):
        admin.plan(params('ban', miners=['m9']), view())


def test_mempool_limits_equal_posts_nothing():
    assert admin.plan(params('mempool', min_fee=2, mempool_max=500), view(min_fee=2, mempool_max=500))[0] is None


def test_mempool_prediction():
    body, after = admin.plan(params('mempool', min_fee=2), view(pending=1500))
    assert body == {'min_fee': 2} and after['mempool'] == {'pending': None, 'min_fee': 2, 'mempool_max': 100000}
    body, after = admin.plan(params('mempool', min_fee=0, mempool_max=1000), view(pending=1500, min_fee=2))
    assert body == {'min_fee': 0, 'mempool_max': 1000} and after['mempool']['pending'] == 1000


def test_status_never_changes():
    assert admin.plan(params('status'), view(banned=['m1']))[0] is None


@pytest.mark.parametrize('request_params, message', [
    (params('ban'), 'command=ban needs miners'),
    (params('mempool'), 'command=mempool needs min_fee and/or mempool_max'),
    (params('mempool', min_fee=-1), 'min_fee=-1 is not allowed; min_fee must be an integer >= 0'),
    (params('mempool', mempool_max=0), 'mempool_max=0 is not allowed; mempool_max must be an integer >= 1'),
    (params('unban', min_fee=3), 'min_fee is only allowed with command=mempool, not command=unban'),
    (params('reset_trust', miners=['m1']), 'miners is only allowed with command=ban or command=unban'),
    (params('unban', miners=['']), "miners=[''] is not allowed; give non-empty miner ids"),
])
def test_bad_requests_name_argument_value_and_allowed(request_params, message):
    with pytest.raises(ChainopsError, match=message.replace('[', r'\[').replace(']', r'\]')):
        admin.check_request(request_params)


def test_clean_token_never_shows_content():
    assert admin.clean_token(b' abc\n', 'src') == 'abc'
    for raw in (b'', b'two words', b'\xff\xfe'):
        with pytest.raises(ChainopsError) as info:
            admin.clean_token(raw, 'admin_token_path=/x')
        assert 'admin_token_path=/x' in info.value.msg and 'two' not in info.value.msg


class FakeAdmin:
    """What lab/bitcell_node/admin.py serves, in memory."""

    def __init__(self, banned=(), pending=1500):
        self.banned, self.pending, self.min_fee, self.mempool_max = set(banned), pending, 0, 100000
        self.posts = []

    def status(self):
        return {'ok': True, 'node_id': 'm1', 'height': 7, 'state': 'running', 'miners': MINERS,
                'banned': sorted(self.banned), 'eligible': sorted(set(MINERS) - self.banned),
                'active_miners': 5 - len(self.banned), 'quorum': len(self.banned) < 2, 'peers': [],
                'mempool': {'pending': self.pending, 'min_fee': self.min_fee, 'mempool_max': self.mempool_max}}

    def run(self, command, body):
        reply = {}
        if command != 'status':
            self.posts.append((command, body))
        if command in ('unban', 'reset-trust'):
            self.banned = set() if body.get('all') or command == 'reset-trust' else self.banned - set(body['miners'])
        elif command == 'mempool':
            dropped = 0
            if body.get('min_fee') is not None:
                self.min_fee = body['min_fee']
                dropped, self.pending = self.pending, 0  # every pending tx paid the lowest fee
            if body.get('mempool_max') is not None:
                self.mempool_max = body['mempool_max']
            reply['dropped'] = dropped
        return dict(self.status(), **reply)


@pytest.fixture
def fake_admin():
    state = FakeAdmin(banned=['m1', 'm2'])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            body = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')
            if self.headers.get('Authorization') != 'Bearer ' + TOKEN:
                code, reply = 401, {'error': 'unauthorized'}
            else:
                code, reply = 200, state.run(self.path.rsplit('/', 1)[-1], body)
            data = json.dumps(reply).encode()
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def run(monkeypatch, capsys, args, **kwargs):
    monkeypatch.delenv('CHAINOPS_ADMIN_TOKEN', raising=False)
    result, code = run_module_main(node_admin.main, monkeypatch, capsys, args, **kwargs)
    out = json.dumps(result)
    assert TOKEN not in out, 'the admin token leaked into the result'
    return result, code


def test_unban_check_real_rerun_with_token_file(monkeypatch, capsys, tmp_path, fake_admin):
    token_file = tmp_path / 'admin.token'
    token_file.write_text(TOKEN + '\n')
    args = {'admin_url': fake_admin.url, 'command': 'unban', 'admin_token_path': str(token_file)}
    result, code = run(monkeypatch, capsys, args, check_mode=True, diff=True)
    assert code == 0 and result['changed'] is True and result['posted'] is None and fake_admin.posts == []
    assert result['after']['banned'] == [] and result['diff']['before']['banned'] == ['m1', 'm2']
    result, code = run(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is True and result['posted'] == {'all': True}
    assert result['after']['banned'] == [] and 'diff' not in result
    result, code = run(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is False and len(fake_admin.posts) == 1


def test_mempool_floor_reports_dropped_then_is_idempotent(monkeypatch, capsys, fake_admin):
    monkeypatch.setenv('CHAINOPS_ADMIN_TOKEN', TOKEN)
    args = {'admin_url': fake_admin.url, 'command': 'mempool', 'min_fee': 2, 'admin_token': TOKEN}
    result, code = run(monkeypatch, capsys, args, check_mode=True)
    assert code == 0 and result['changed'] is True and result['dropped'] is None
    result, code = run(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is True and result['dropped'] == 1500
    assert result['before']['mempool']['pending'] == 1500 and result['after']['mempool']['min_fee'] == 2
    result, code = run(monkeypatch, capsys, args)
    assert code == 0 and result['changed'] is False and result['dropped'] == 0


def test_wrong_token_fails_without_showing_it(monkeypatch, capsys, fake_admin):
    wrong = 'deadbeef' * 8
    result, code = run(monkeypatch, capsys, {'admin_url': fake_admin.url, 'admin_token': wrong})
    assert code == 1 and 'refused the token (HTTP 401)' in result['msg'] and wrong not in json.dumps(result)


@pytest.mark.parametrize('args, message', [
    ({'admin_url': 'ftp://x', 'admin_token': 'tok3n-for-bad-input'}, "admin_url='ftp://x' is not an http(s) URL"),
    ({'admin_url': 'http://127.0.0.1:1', 'admin_token': 'tok3n-for-bad-input', 'command': 'flush'},
     'value of command must be one of: status, ban, unban, reset_trust, mempool, got: flush'),
    ({'admin_url': 'http://127.0.0.1:1', 'admin_token': 'tok3n-for-bad-input', 'timeout': 0}, 'timeout=0.0 is not allowed'),
    ({'admin_url': 'http://127.0.0.1:1', 'admin_token_path': '/nonexistent/admin.token'},
     'admin_token_path=/nonexistent/admin.token does not exist'),
    ({'admin_url': 'http://127.0.0.1:1', 'admin_token': 'tok3n-for-bad-input', 'command': 'mempool', 'min_fee': -2},
     'min_fee=-2 is not allowed'),
])
def test_bad_input(monkeypatch, capsys, args, message):
    result, code = run(monkeypatch, capsys, args)
    assert code == 1 and message in result['msg']
