# SPDX-License-Identifier: GPL-3.0-or-later
"""The API's TLS material (made with the openssl CLI), its bearer token and the kubeconfig."""
from __future__ import annotations

import base64
import os
import secrets
import subprocess
from pathlib import Path

import yaml

CLUSTER = "chainops-lab"
USER = "chainops-lab-admin"
SERVER_SAN = "subjectAltName=IP:127.0.0.1,DNS:localhost"


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure_tls(directory):
    """A self-signed CA and a server certificate for 127.0.0.1 signed by it; kept if present."""
    directory = Path(directory)
    ca_crt, ca_key = directory / "ca.crt", directory / "ca.key"
    crt, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    if crt.exists() and key.exists() and ca_crt.exists():
        return ca_crt, crt, key
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "365",
             "-subj", "/CN=chainops-lab-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    ext = directory / "server.ext"
    ext.write_text(f"{SERVER_SAN}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(crt), "-days", "365", "-extfile", str(ext))
    for path in (ca_key, key):
        os.chmod(path, 0o600)
    return ca_crt, crt, key


def ensure_token(path):
    """A random bearer token, made once per lab (0600)."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def kubeconfig(server, ca_pem, token, namespace="default"):
    """A kubeconfig with one cluster, user and context, all named for the lab."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": CLUSTER,
        "clusters": [{"name": CLUSTER, "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": USER, "user": {"token": token}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": USER, "namespace": namespace}}],
    }


def write_kubeconfig(path, config):
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path
