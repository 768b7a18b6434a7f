# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the ``get-pip.py`` that ``ansible-test`` downloads.

ansible-test bootstraps pip in each (empty, ``--without-pip``) sanity
virtual environment by running a get-pip script it fetches from a host
that is unreachable here; it first looks for a cached copy at
``~/.ansible/test/cache/get_pip_<X_Y>.py``.  ``tools/sanity.sh`` seeds that
cache with this file, which bootstraps pip from the interpreter's bundled
``ensurepip`` and then runs ``pip install`` with the arguments ansible-test
passed (e.g. ``--disable-pip-version-check pip==24.2``), so the requested
pip version comes from the ordinary package index instead.

``--no-setuptools`` / ``--no-wheel`` are get-pip-only options: they are not
passed on to pip, but honoured by removing setuptools / wheel again if
ensurepip brought them in, so the environment matches what get-pip makes.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY = {
    '--no-setuptools': 'setuptools',
    '--no-wheel': 'wheel',
}


def run(*args: str) -> None:
    """Run the current interpreter with ``args``; exit with its code on failure."""
    cmd = [sys.executable, *args]
    result = subprocess.run(cmd, check=False)
    if result.returncode:
        sys.stderr.write('get_pip_shim: command failed (%d): %s\n' % (result.returncode, ' '.join(cmd)))
        sys.exit(result.returncode)


def installed(name: str) -> bool:
    """Tell whether a fresh interpreter can import ``name``."""
    check = 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)'
    return subprocess.run([sys.executable, '-c', check, name], check=False).returncode == 0


def main(argv: list[str]) -> None:
    """Bootstrap pip with ensurepip, then install what get-pip was asked for."""
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    # only what the bootstrap itself brings in is removed again
    unwanted = [GET_PIP_ONLY[arg] for arg in argv if arg in GET_PIP_ONLY and not installed(GET_PIP_ONLY[arg])]

    run('-m', 'ensurepip')
    run('-m', 'pip', 'install', *pip_args)

    unwanted = [name for name in unwanted if installed(name)]
    if unwanted:
        run('-m', 'pip', 'uninstall', '--yes', '--disable-pip-version-check', *unwanted)


if __name__ == '__main__':
    main(sys.argv[1:])
