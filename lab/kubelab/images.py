# SPDX-License-Identifier: GPL-3.0-or-later
"""The image table: which local program a container image runs.

Pods are processes, so an "image" is an entrypoint, a default command, an
environment and a directory put first on PATH (so `command: [bitcell-node, ...]`
finds the program the image would contain). Any listed tag "pulls"; another tag
is an ErrImagePull, as a typo in a real rollout would be.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAB = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Image:
    entrypoint: tuple
    cmd: tuple = ()
    env: dict = field(default_factory=dict)
    path: str = ""
    tags: tuple = ("lab",)


def _webapp(name):
    return Image(entrypoint=(sys.executable, "-m", "kubelab.apps.webapp"), cmd=("--name", name),
                 env={"PYTHONPATH": str(LAB)}, tags=("lab", "v1", "v2"))


IMAGES = {
    "chainops/bitcell-node": Image(entrypoint=(str(LAB / "bin" / "bitcell-node"),), cmd=("run",),
                                   env={"BITCELL_PYTHON": sys.executable}, path=str(LAB / "bin")),
    "chainops/blockchain-backend": _webapp("blockchain-backend"),
    "chainops/coordinator": _webapp("coordinator"),
}


class ImageError(Exception):
    pass


def resolve(reference):
    """`repo:tag` -> (Image, tag); ImageError when the table has no such repository or tag."""
    repository, _colon, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    image = IMAGES.get(repository)
    if image is None or tag not in image.tags:
        known = ", ".join(f"{repo}:{t}" for repo, img in IMAGES.items() for t in img.tags)
        raise ImageError(f'failed to pull image "{reference}": not in the lab image table ({known})')
    return image, tag


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text, env):
    """Kubernetes `$(VAR)` expansion: known variables substituted, `$$` escapes, unknown kept."""
    def sub(match):
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _REF.sub(sub, text)


def argv(image, command, args, env):
    """The process argv: `command` replaces the entrypoint, `args` the default command."""
    if command:
        words = [*command, *(args or [])]
    else:
        words = [*image.entrypoint, *(image.cmd if args is None else args)]
    return [expand(word, env) for word in words]
