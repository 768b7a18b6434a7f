# SPDX-License-Identifier: GPL-3.0-or-later
"""kubelab: the lab's Kubernetes-compatible API server, controllers and process kubelet.

`python -m kubelab serve` runs all three in one process (like a single-binary
distribution): the API on https://127.0.0.1:6443, controllers that turn
Deployments and StatefulSets into pods, and a kubelet whose pods are local processes.
"""
