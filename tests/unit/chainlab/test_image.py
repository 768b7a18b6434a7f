# SPDX-License-Identifier: GPL-3.0-or-later
"""The node image's root filesystem: complete, and the same bytes for the same inputs."""
from __future__ import annotations

import tarfile

from image.build_rootfs import build


def test_rootfs_is_reproducible_and_complete(tmp_path):
    first = build(tmp_path / "a.tar")
    second = build(tmp_path / "b.tar")
    assert first == second, "same inputs must give the same digest, or the lab re-imports needlessly"
    names = set(tarfile.open(tmp_path / "a.tar").getnames())
    for required in ("usr/bin/python3.11", "bin/busybox", "bin/sh", "bin/df", "usr/local/bin/bitcell-node",
                     "opt/bitcell/bitcell_node/__main__.py", "usr/lib/python3.11/asyncio/__init__.py",
                     "usr/lib/python3.11/tomllib/__init__.py"):
        assert required in names, required
    assert not [n for n in names if "/test/" in n or n.endswith(".pyc")]


def test_bytecode_caches_do_not_change_the_image(tmp_path):
    """Running the tests leaves __pycache__ in lab/; the image must not depend on it."""
    from image import build_rootfs

    cache = build_rootfs.LAB / "bitcell_node" / "__pycache__"
    before = build(tmp_path / "a.tar")
    cache.mkdir(exist_ok=True)
    marker = cache / "chainops-test.cpython-311.pyc"
    marker.write_bytes(b"not really bytecode")
    try:
        assert build(tmp_path / "b.tar") == before
    finally:
        marker.unlink()
