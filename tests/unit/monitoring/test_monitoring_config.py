# SPDX-License-Identifier: GPL-3.0-or-later
"""prometheus.yml comes from the topology; every service listens on loopback only."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from chainlab import monitoring, procs, topology

FLEET = topology.load()


def test_one_scrape_target_per_node_labelled_with_its_name_and_region():
    config = monitoring.prometheus_config(FLEET)
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert set(jobs) == {"bitcell-nodes", "alertmanager", "prometheus"}
    nodes = {group["labels"]["instance"]: (group["targets"], group["labels"]["region"]) for group in jobs["bitcell-nodes"]}
    assert nodes == {node.name: ([f"{node.ip}:{node.metrics_port}"], node.region) for node in FLEET.nodes}
    assert nodes["bitcell-node-eu-west-2"] == (["127.0.2.2:9105"], "eu-west")
    assert jobs["alertmanager"] == [{"targets": ["127.0.0.1:9093"]}]
    assert jobs["prometheus"] == [{"targets": ["127.0.0.1:9090"]}]


def test_prometheus_evaluates_the_lab_rules_every_two_seconds_and_alerts_the_lab_alertmanager():
    config = monitoring.prometheus_config(FLEET)
    assert config["global"] == {"scrape_interval": "2s", "scrape_timeout": "1s", "evaluation_interval": "2s"}
    assert config["rule_files"] == [str(monitoring.RULES_DIR / "lab" / "bitcell.rules.yml")]
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]


def test_written_config_is_yaml_of_the_same_dict(tmp_path, monkeypatch):
    monkeypatch.setattr(monitoring, "STATE", tmp_path)
    monkeypatch.setattr(monitoring, "PROMETHEUS_CONFIG", tmp_path / "prometheus.yml")
    path = monitoring.write_prometheus_config(FLEET)
    assert yaml.safe_load(path.read_text()) == monitoring.prometheus_config(FLEET)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus)")
def test_promtool_accepts_the_generated_config(tmp_path, monkeypatch):
    monkeypatch.setattr(monitoring, "STATE", tmp_path)
    monkeypatch.setattr(monitoring, "PROMETHEUS_CONFIG", tmp_path / "prometheus.yml")
    path = monitoring.write_prometheus_config(FLEET)
    proc = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def binaries(monkeypatch):
    monkeypatch.setattr(monitoring.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_alertmanager_listens_on_loopback_with_clustering_off(binaries):
    argv = monitoring.command_line("alertmanager")
    assert argv[0] == "/usr/bin/prometheus-alertmanager"
    assert "--web.listen-address=127.0.0.1:9093" in argv
    assert "--cluster.listen-address=" in argv  # empty: no gossip port
    assert f"--config.file={monitoring.ALERTMANAGER_CONFIG}" in argv
    assert f"--storage.path={topology.STATE / 'monitoring' / 'alertmanager'}" in argv


def test_prometheus_listens_on_loopback_and_keeps_its_data_under_the_lab_state(binaries):
    argv = monitoring.command_line("prometheus")
    assert argv[0] == "/usr/bin/prometheus"
    assert "--web.listen-address=127.0.0.1:9090" in argv
    assert f"--storage.tsdb.path={topology.STATE / 'monitoring' / 'prometheus'}" in argv
    assert f"--config.file={topology.STATE / 'monitoring' / 'prometheus.yml'}" in argv


def test_receiver_listens_on_loopback_and_records_under_the_lab_state():
    assert monitoring.command_line("receiver") == ["--listen", "127.0.0.1:9095", "--dir",
                                                   str(topology.STATE / "receiver")]


def test_nothing_binds_every_interface(binaries):
    for service in monitoring.SERVICES:
        assert not [arg for arg in monitoring.command_line(service) if "0.0.0.0" in arg or arg.startswith(":")]


def test_a_missing_binary_names_the_debian_packages(monkeypatch):
    monkeypatch.setattr(monitoring.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="prometheus and prometheus-alertmanager"):
        monitoring.command_line("prometheus")


def test_alerts_text_lists_firing_alerts_or_says_why_not():
    assert "does not answer on 127.0.0.1:9090" in monitoring.alerts_text(None)
    assert monitoring.alerts_text([]) == "firing alerts: none"
    text = monitoring.alerts_text([{"labels": {"alertname": "NodeDown", "severity": "warning",
                                               "instance": "bitcell-node-us-east-1", "region": "us-east"},
                                    "annotations": {"summary": "BitCell node bitcell-node-us-east-1 is down"}}])
    assert text.splitlines()[0] == "firing alerts (1):"
    assert text.splitlines()[1].split() == ["warning", "NodeDown", "instance=bitcell-node-us-east-1", "region=us-east",
                                            "BitCell", "node", "bitcell-node-us-east-1", "is", "down"]


def test_start_argv_tracks_any_program_by_its_pid_file(tmp_path, monkeypatch):
    monkeypatch.setattr(topology, "STATE", tmp_path)
    assert procs.start_argv("sleeper", ["sleep", "30"])
    pid = procs.running("sleeper")
    assert pid and (tmp_path / "sleeper.pid").read_text() == str(pid)
    assert not procs.start_argv("sleeper", ["sleep", "30"]), "a running service is not started twice"
    assert procs.stop("sleeper", wait=5)
    assert procs.running("sleeper") is None and not (tmp_path / "sleeper.pid").exists()
