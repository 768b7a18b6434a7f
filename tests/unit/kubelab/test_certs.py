# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS material from the openssl CLI, the bearer token and the kubeconfig clients load."""
from __future__ import annotations

import base64
import stat
import subprocess

import yaml

from kubelab import certs


def test_server_certificate_is_signed_by_the_ca_for_loopback(tmp_path):
    ca, crt, key = certs.ensure_tls(tmp_path)
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(crt)], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-text"], capture_output=True,
                          text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in text
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    issued = crt.read_bytes()
    assert certs.ensure_tls(tmp_path) == (ca, crt, key) and crt.read_bytes() == issued, "kept, not reissued"


def test_token_is_random_private_and_stable(tmp_path):
    token = certs.ensure_token(tmp_path / "token")
    assert len(token) >= 40 and certs.ensure_token(tmp_path / "token") == token
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert certs.ensure_token(tmp_path / "other") != token


def test_kubeconfig_names_the_lab_cluster_and_context(tmp_path):
    config = certs.kubeconfig("https://127.0.0.1:6443", b"PEM", "t0k3n")
    path = certs.write_kubeconfig(tmp_path / "kubeconfig", config)
    loaded = yaml.safe_load(path.read_text())
    assert loaded["current-context"] == "chainops-lab"
    assert loaded["clusters"][0] == {"name": "chainops-lab", "cluster": {
        "server": "https://127.0.0.1:6443", "certificate-authority-data": base64.b64encode(b"PEM").decode()}}
    assert loaded["users"][0]["user"] == {"token": "t0k3n"}
    assert loaded["contexts"][0]["context"]["cluster"] == "chainops-lab"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
