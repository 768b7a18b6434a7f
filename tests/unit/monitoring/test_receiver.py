# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab receiver records every notification and serves the records back."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from chainlab import receiver

NOTIFICATION = {"version": "4", "status": "firing", "receiver": "critical",
                "alerts": [{"status": "firing", "labels": {"alertname": "RegionDown", "region": "us-east"}}]}


@pytest.fixture
def served(tmp_path):
    server = receiver.make_server("127.0.0.1", 0, tmp_path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def post(url, body, content_type="application/json"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.status, json.load(reply)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def test_records_every_notification_with_time_path_and_payload(served):
    base, directory = served
    before = time.time()
    assert post(f"{base}/alerts/critical", json.dumps(NOTIFICATION).encode())[0] == 200
    assert post(f"{base}/alerts/warning", b"not json")[0] == 200
    records = get(f"{base}/records")
    assert [r["path"] for r in records] == ["/alerts/critical", "/alerts/warning"]
    assert records[0]["payload"] == NOTIFICATION
    assert records[1]["payload"] == "not json"
    assert all(before <= r["received_at"] <= time.time() for r in records)
    lines = (directory / "notifications.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records


def test_since_returns_only_later_records(served):
    base, _directory = served
    post(f"{base}/alerts/info", b"{}")
    first = get(f"{base}/records")[0]["received_at"]
    post(f"{base}/alerts/critical", json.dumps(NOTIFICATION).encode())
    later = get(f"{base}/records?since={first}")
    assert [r["path"] for r in later] == ["/alerts/critical"]
    assert get(f"{base}/records?since={time.time() + 60}") == []


def test_records_are_appended_and_outlive_the_server(served):
    base, directory = served
    post(f"{base}/alerts/critical", json.dumps(NOTIFICATION).encode())
    again = receiver.Store(directory)
    again.append("/alerts/info", b'{"status": "resolved"}')
    assert [r["path"] for r in get(f"{base}/records")] == ["/alerts/critical", "/alerts/info"]


def test_bad_since_and_unknown_paths_are_client_errors(served):
    base, _directory = served
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{base}/records?since=yesterday")
    assert err.value.code == 400 and "since='yesterday'" in json.load(err.value)["error"]
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{base}/nope")
    assert err.value.code == 404
    assert get(f"{base}/-/healthy") == {"status": "ok"}


def test_refuses_to_listen_beyond_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback addresses only"):
        receiver.make_server("0.0.0.0", 0, tmp_path)
    with pytest.raises(SystemExit):
        receiver.main(["--listen", "0.0.0.0:9095", "--dir", str(tmp_path)])
