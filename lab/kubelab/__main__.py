# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m kubelab serve`: the API server, the controllers and the kubelet in one process."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from . import certs
from .api import NAMESPACES, Api, make_namespace
from .controllers import Controllers
from .kubelet import Kubelet
from .server import ApiServer
from .store import Store

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def serve(state, host, port):
    state.mkdir(parents=True, exist_ok=True)
    _ca, crt, key = certs.ensure_tls(state / "tls")
    token = certs.ensure_token(state / "token")
    store = Store(state / "objects.json")
    for name in BUILTIN_NAMESPACES:
        if store.get(NAMESPACES, "", name) is None:
            store.create(NAMESPACES, make_namespace(name))
    api = Api(store)
    kubelet = Kubelet(store, state)
    kubelet.stop_leftovers()
    server = ApiServer((host, port), api, token, str(crt), str(key), kubelet.log_path)
    done = threading.Event()

    def persist():  # the objects survive a restart of this process
        while not done.wait(1.0):
            store.save()

    def stop(*_):
        server.stopping = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for thread in (kubelet, Controllers(api), threading.Thread(target=persist, daemon=True)):
        thread.start()
    print(f"kubelab: serving https://{host}:{port} (state {state})", flush=True)
    server.serve_forever()
    kubelet.shutdown()
    done.set()
    store.save()
    print("kubelab: stopped", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kubelab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the API server, controllers and kubelet")
    run.add_argument("--state", type=Path, required=True, help="directory for TLS, token, objects, pods")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=6443)
    args = parser.parse_args(argv)
    return serve(args.state, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
