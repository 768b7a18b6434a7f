#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run `ansible-test sanity` on the collection, fully offline except for the
# package index (PyPI) that pip is already configured for.
#
# Usage: tools/sanity.sh [extra ansible-test sanity args]
#   e.g. tools/sanity.sh --test pylint
#        tools/sanity.sh plugins/modules/foo.py
#
# What it does:
#   1. Seeds ansible-test's get-pip cache (~/.ansible/test/cache/get_pip_<X_Y>.py)
#      with tools/get_pip_shim.py for every pip version this ansible-test asks
#      for (read from ansible_test's own source at run time). ansible-test
#      would otherwise download get-pip from a host that is unreachable here;
#      the shim bootstraps pip with `ensurepip` and installs the requested pip
#      from the package index.
#   2. Lays out a real copy (no symlinks) of the collection's git-tracked and
#      untracked-not-ignored files at
#      $BUILD_DIR/ansible_collections/<namespace>/<name>, and makes it its own
#      (empty) git work tree so ansible-test lists exactly those files.
#   3. Runs `ansible-test sanity --python $PYTHON_VERSION --requirements
#      --color no "$@"` from inside that copy and exits with its exit code.
#
# Environment:
#   VENV             venv with ansible-core (default: .venv, relative to the repo root)
#   COLLECTION_ROOT  collection source to test (default: the repo root); must
#                    contain galaxy.yml and be inside a git work tree
#   BUILD_DIR        where the ansible_collections tree is laid out
#                    (default: <repo root>/build/sanity; build/collections holds
#                    the symlink ansible.cfg uses, which this must not replace)
#   PYTHON_VERSION   python version passed to --python (default: 3.11)
#
# Sanity venvs are cached by ansible-test under ~/.ansible/test/venv, so only
# the first run installs their requirements from the package index.

set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
cd "$REPO_ROOT"

VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$REPO_ROOT/$VENV" ;; esac
COLLECTION_ROOT="$(cd -- "${COLLECTION_ROOT:-$REPO_ROOT}" && pwd -P)"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/build/sanity}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$REPO_ROOT/$BUILD_DIR" ;; esac
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
SHIM="$SCRIPT_DIR/get_pip_shim.py"
PY="$VENV/bin/python"
ANSIBLE_TEST="$VENV/bin/ansible-test"

log() { printf '[sanity] %s\n' "$*"; }
die() { printf '[sanity] ERROR: %s\n' "$*" >&2; exit 2; }

[[ -x "$PY" && -x "$ANSIBLE_TEST" ]] || die "no ansible-test in venv $VENV (run the setup first, or set VENV)"
[[ -f "$SHIM" ]] || die "missing $SHIM"
[[ -f "$COLLECTION_ROOT/galaxy.yml" ]] || die "no galaxy.yml in $COLLECTION_ROOT"
command -v git >/dev/null || die "git is required"

start=$(date +%s)

# --- 1. seed the get-pip cache --------------------------------------------
# Prints "<pip version> <cache path>" for each pip version ansible-test may
# bootstrap, using ansible_test's own code/constants.
seed_targets="$("$PY" - <<'PYEOF'
import os
import re
import sys
import types

import ansible_test
from ansible_test._internal import python_requirements
from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS

# The cache file name is built in _util/target/setup/requirements.py (bootstrap()).
src_path = os.path.join(os.path.dirname(ansible_test.__file__), '_util', 'target', 'setup', 'requirements.py')
with open(src_path, encoding='utf-8') as src:
    source = src.read()
match = re.search(r"""os\.path\.expanduser\((['"])([^'"]*%s[^'"]*)\1 % pip_version\.replace\(['"]\.['"], ['"]_['"]\)\)""", source)
if not match:
    sys.exit('cannot find the get-pip cache path in %s: ansible-test changed, update tools/sanity.sh' % src_path)
template = match.group(2)

versions = set()
for version in SUPPORTED_PYTHON_VERSIONS:
    versions.add(python_requirements.get_venv_packages(types.SimpleNamespace(version=version))['pip'])

for pip_version in sorted(versions):
    print(pip_version, os.path.expanduser(template % pip_version.replace('.', '_')))
PYEOF
)" || die "could not work out which get-pip cache file(s) ansible-test uses"
[[ -n "$seed_targets" ]] || die "ansible-test requests no pip version?"

seeded=()
while read -r pip_version cache_path; do
    mkdir -p "$(dirname "$cache_path")"
    if cmp -s "$SHIM" "$cache_path"; then
        log "get-pip cache for pip $pip_version already seeded: $cache_path"
    else
        cp "$SHIM" "$cache_path.tmp.$$"
        mv -f "$cache_path.tmp.$$" "$cache_path"
        log "seeded get-pip cache for pip $pip_version: $cache_path"
    fi
    seeded+=("pip $pip_version -> $cache_path")
done <<<"$seed_targets"

# --- 2. lay out a real copy of the collection -------------------------------
read -r namespace name < <("$PY" - "$COLLECTION_ROOT/galaxy.yml" <<'PYEOF'
import sys
import yaml
with open(sys.argv[1], encoding='utf-8') as f:
    meta = yaml.safe_load(f)
print(meta['namespace'], meta['name'])
PYEOF
) || die "cannot read namespace/name from $COLLECTION_ROOT/galaxy.yml"
[[ "$namespace" =~ ^[a-z0-9_]+$ && "$name" =~ ^[a-z0-9_]+$ ]] \
    || die "bad namespace/name '$namespace'/'$name' in $COLLECTION_ROOT/galaxy.yml"
DEST="$BUILD_DIR/ansible_collections/$namespace/$name"

git -C "$COLLECTION_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || die "$COLLECTION_ROOT is not in a git work tree (git init it, or the file list cannot be taken)"

# Never copy these, even when no .gitignore excludes them yet.
excludes=(':(exclude).venv' ':(exclude)build' ':(exclude)node_modules' ':(exclude)tests/output')
for d in "$VENV" "$BUILD_DIR"; do
    case "$d/" in "$COLLECTION_ROOT"/*) excludes+=(":(exclude)${d#"$COLLECTION_ROOT"/}") ;; esac
done

rm -rf "$DEST"
mkdir -p "$DEST"
(
    cd "$COLLECTION_ROOT"
    git ls-files -co --exclude-standard -z -- . "${excludes[@]}" | while IFS= read -r -d '' f; do
        # skip tracked files deleted in the work tree
        if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi
    done
) > "$DEST/.sanity-filelist"
(cd "$COLLECTION_ROOT" && tar --null -T "$DEST/.sanity-filelist" -cf -) | tar -xf - -C "$DEST"
rm -f "$DEST/.sanity-filelist"
nfiles=$(cd "$DEST" && find . -path ./.git -prune -o \( -type f -o -type l \) -print | wc -l)
# An own (empty) repository stops ansible-test from walking up to the outer
# one (where build/ is ignored) and makes it list the copied files itself.
git -C "$DEST" init -q
log "copied $nfiles files of $COLLECTION_ROOT to $DEST"

# --- 3. run ansible-test ------------------------------------------------------
cmd=("$ANSIBLE_TEST" sanity --python "$PYTHON_VERSION" --requirements --color no "$@")
log "running (in $DEST): ${cmd[*]}"
LOG="$BUILD_DIR/sanity-$namespace.$name.log"
set +e
(cd "$DEST" && PATH="$VENV/bin:$PATH" "${cmd[@]}" </dev/null) 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

echo
log "==================== summary ===================="
log "collection : $namespace.$name ($COLLECTION_ROOT)"
log "copy       : $DEST ($nfiles files)"
for s in "${seeded[@]}"; do log "get-pip    : $s"; done
log "tests run  : $(grep -c '^Running sanity test ' "$LOG" || true)"
# ansible-test repeats its own warnings (skipped tests, missing tools) at the end
if grep -q '^WARNING: Reviewing previous' "$LOG"; then
    log "warnings   :"
    sed -n '/^WARNING: Reviewing previous/,$p' "$LOG" | sed '1d; s/^/[sanity]   /'
fi
if grep -q '^FATAL: The .* sanity test(s) listed below' "$LOG"; then
    log "failed     :"
    sed -n '/^FATAL: The .* sanity test(s) listed below/,/^$/p' "$LOG" | sed '1d; /^$/d; s/^/[sanity]   /'
fi
log "log        : $LOG"
log "results    : $DEST/tests/output"
log "duration   : ${elapsed}s"
if [[ $rc -eq 0 ]]; then
    log "RESULT     : PASSED (ansible-test exit 0)"
else
    log "RESULT     : FAILED (ansible-test exit $rc)"
fi
exit "$rc"
