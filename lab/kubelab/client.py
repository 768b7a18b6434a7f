# SPDX-License-Identifier: GPL-3.0-or-later
"""A minimal JSON client for the lab's own use of its API (apply manifests, wait, status)."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from .resources import BY_KIND


class Client:
    def __init__(self, server, token, ca_file):
        self.server, self.token = server, token
        self.context = ssl.create_default_context(cafile=str(ca_file))

    def request(self, method, path, body=None, content_type="application/json", timeout=10):
        """(status code, decoded JSON body); HTTP errors are returned, connection errors raised."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)


def path_of(kind, namespace=None, name=None):
    res = BY_KIND[kind]
    base = f"/apis/{res.group}/v1" if res.group else "/api/v1"
    if res.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{res.plural}"
    return f"{base}/{name}" if name else base
