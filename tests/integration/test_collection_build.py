# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection builds, installs, and documents every plugin it ships.

Plugins are enumerated from the tree, so a new module cannot skip its docs.
"""
from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
import yaml

from helpers.ansible_run import REPO, VENV_BIN, ansible_env

MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the collection tarball and install it into an empty collections path."""
    work = tmp_path_factory.mktemp("collection")
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(work)],
                   check=True, capture_output=True, text=True, env=ansible_env())
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = work / f"chainops-runbooks-{version}.tar.gz"
    target = work / "installed"
    # Only the empty path is configured, so the checkout's own link cannot satisfy the install.
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--force", str(tarball),
                    "-p", str(target)], check=True, capture_output=True, text=True,
                   env=ansible_env(ANSIBLE_COLLECTIONS_PATH=target))
    assert (target / "ansible_collections" / "chainops" / "runbooks" / "MANIFEST.json").is_file()
    return tarball, target


def test_the_collection_ships_modules():
    assert MODULES, "plugins/modules is empty"


def test_tarball_leaves_out_lab_state_and_venvs(installed):
    tarball = installed[0]
    names = tarfile.open(tarball).getnames()
    assert not [n for n in names if n.startswith((".venv", "build/", "lab/.state", "tests/output", ".git/"))]
    assert "plugins/modules/" + MODULES[0] + ".py" in names
    assert "meta/runtime.yml" in names


@pytest.mark.parametrize("module", MODULES)
def test_module_docs_render_from_the_installed_collection(installed, module):
    target = installed[1]
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=target)
    doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "module", "--json", f"chainops.runbooks.{module}"],
                         capture_output=True, text=True, env=env, cwd=target, check=False)
    assert doc.returncode == 0, doc.stderr
    data = json.loads(doc.stdout)[f"chainops.runbooks.{module}"]
    assert data["doc"]["short_description"] and data["examples"] and data["return"]
    text = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "module", f"chainops.runbooks.{module}"],
                          capture_output=True, text=True, env=env, cwd=target, check=False)
    assert text.returncode == 0 and "EXAMPLES" in text.stdout and "RETURN VALUES" in text.stdout, text.stderr


@pytest.mark.parametrize("plugin", FILTERS)
def test_filter_docs_render(installed, plugin):
    target = installed[1]
    doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "filter", f"chainops.runbooks.{plugin}"],
                         capture_output=True, text=True, env=ansible_env(ANSIBLE_COLLECTIONS_PATH=target),
                         cwd=target, check=False)
    assert doc.returncode == 0 and "EXAMPLES" in doc.stdout, doc.stderr


def test_every_module_is_in_the_action_group():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert sorted(runtime["action_groups"]["fleet"]) == MODULES
