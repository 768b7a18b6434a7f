# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the BitCell node image's root filesystem as a tarball.

No registry serves images here, so the lab makes its own: Debian's python3.11
with its stdlib and the shared libraries it links, busybox for a shell and the
usual tools (`cat`, `df`, `ping` ... as the runbook uses them through
`docker exec`), and the node simulator under /opt/bitcell. The result is fed
to `docker import`. The tarball is reproducible for the same inputs, so its
digest identifies the image.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

LAB = Path(__file__).resolve().parents[1]
PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
BUSYBOX = Path("/bin/busybox")
# Parts of the stdlib a headless node never imports; leaving them out keeps
# each vfs container copy small.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
               "pydoc_data", "config-3.11-x86_64-linux-gnu", "venv"}
APPLETS = ("sh", "cat", "ls", "ps", "df", "du", "ping", "kill", "sleep", "grep",
           "tail", "head", "rm", "mv", "cp", "mkdir", "echo", "top", "free", "env",
           "find", "wc", "test", "[", "sed", "awk", "date", "id", "hostname", "uname")
FIXED_MTIME = 1_700_000_000


def shared_libraries(binaries):
    """The absolute paths ldd reports for the given ELF files (loader included)."""
    libs = set()
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
        for match in re.finditer(r"(/\S+) \(0x", out):
            libs.add(Path(match.group(1)))
    return sorted(libs)


def _add_file(tar, src: Path, dest: str, mode=None):
    info = tar.gettarinfo(str(src), arcname=dest)
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
    if mode is not None:
        info.mode = mode
    with open(src, "rb") as handle:
        tar.addfile(info, handle)


def _add_bytes(tar, dest: str, data: bytes, mode=0o644):
    info = tarfile.TarInfo(dest)
    info.size, info.mode, info.mtime = len(data), mode, FIXED_MTIME
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar, dest: str, mode=0o755):
    info = tarfile.TarInfo(dest)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, FIXED_MTIME
    tar.addfile(info)


def _add_link(tar, dest: str, target: str):
    info = tarfile.TarInfo(dest)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, FIXED_MTIME
    tar.addfile(info)


def _tree(root: Path, skip=frozenset()):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in skip or part == "__pycache__" or part.endswith(".pyc") for part in rel.parts):
            continue
        yield path, rel


def build(out: Path):
    missing = [str(p) for p in (PYTHON, STDLIB, BUSYBOX) if not p.exists()]
    if missing:
        sys.exit(f"build_rootfs: missing {', '.join(missing)}; run `make setup` (apt packages python3.11, busybox-static)")
    dynload = sorted((STDLIB / "lib-dynload").glob("*.so"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        dirs = ("bin", "usr", "usr/bin", "usr/local", "usr/local/bin", "usr/lib", "lib", "lib64",
                "etc", "tmp", "data", "data/bitcell", "opt", "opt/bitcell", "proc", "sys", "dev", "root")
        for directory in dirs:
            _add_dir(tar, directory, 0o1777 if directory == "tmp" else 0o755)
        _add_file(tar, BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            _add_link(tar, f"bin/{applet}", "busybox")
        _add_file(tar, PYTHON, "usr/bin/python3.11")
        _add_link(tar, "usr/bin/python3", "python3.11")
        seen_dirs = set(dirs)
        for lib in shared_libraries([PYTHON, *dynload]):
            real = lib.resolve()
            for parent in reversed(Path(str(lib).lstrip("/")).parents[:-1]):
                if str(parent) not in seen_dirs:
                    seen_dirs.add(str(parent))
                    _add_dir(tar, str(parent))
            _add_file(tar, real, str(lib).lstrip("/"))
        for path, rel in _tree(STDLIB, STDLIB_SKIP):
            dest = f"usr/lib/python3.11/{rel}"
            if path.is_dir():
                _add_dir(tar, dest)
            elif path.is_file():
                _add_file(tar, path, dest)
        for path, rel in _tree(LAB / "bitcell_node"):
            dest = f"opt/bitcell/bitcell_node/{rel}"
            if path.is_dir():
                _add_dir(tar, dest)
            elif path.is_file():
                _add_file(tar, path, dest)
        _add_file(tar, LAB / "bin" / "bitcell-node", "usr/local/bin/bitcell-node", 0o755)
        _add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _add_bytes(tar, "etc/group", b"root:x:0:\n")
        _add_bytes(tar, "etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n")
    os.replace(tmp, out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the rootfs tarball")
    print(build(parser.parse_args().output))


if __name__ == "__main__":
    main()
