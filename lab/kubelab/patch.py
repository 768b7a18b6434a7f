# SPDX-License-Identifier: GPL-3.0-or-later
"""The three PATCH formats of the Kubernetes API, as pure functions on JSON values.

- json_merge_patch:       application/merge-patch+json (RFC 7386)
- json_patch:             application/json-patch+json (RFC 6902)
- strategic_merge_patch:  application/strategic-merge-patch+json (what kubectl sends)

None of them mutates its arguments: each works on a deep copy and returns a new dict,
or raises PatchError naming the path and the reason.

Strategic merge patch needs to know, per list field, whether its items merge and by which
key (patchStrategy/patchMergeKey).  Kubernetes reads that from the Go type of the object;
the lab has no schemas, so the lookup here is by field name alone: a field named
`containers` merges by `name` wherever it appears.  For the kinds the lab serves (Pods,
Deployments, StatefulSets, ReplicaSets, ConfigMaps, Scale) each name below has one meaning;
`ports` is taken as container ports (Services, whose ports merge by `port`, are not served).
Lists not named here (tolerations, envFrom, args, command, ...) are replaced whole.
"""
from __future__ import annotations

import copy
import re

# patchMergeKey of the core/v1, apps/v1 and meta/v1 list fields with patchStrategy "merge".
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "conditions": "type",
}
# Lists of scalars with patchStrategy "merge": they behave as ordered sets.
_SET_FIELDS = frozenset({"finalizers"})

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_DELETED = object()  # what a map carrying `$patch: delete` merges into


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the path and the reason."""


# --- RFC 7386 -------------------------------------------------------------------------------

def json_merge_patch(doc, patch):
    """Objects merge recursively, null deletes a member, anything else replaces."""
    if not isinstance(doc, dict) or not isinstance(patch, dict):
        raise PatchError("merge patch: the document and the patch must both be JSON objects")
    return _merge_patch(copy.deepcopy(doc), patch)


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


# --- RFC 6902 -------------------------------------------------------------------------------

def json_patch(doc, ops):
    """Apply the operations in order; all of them or none (the input is never touched)."""
    if not isinstance(doc, dict):
        raise PatchError("json patch: the document must be a JSON object")
    if not isinstance(ops, list):
        raise PatchError("json patch: the patch must be a JSON array of operations")
    root = copy.deepcopy(doc)
    for number, op in enumerate(ops):
        root = _apply_op(root, op, number)
    if not isinstance(root, dict):
        raise PatchError("json patch: the result must be a JSON object")
    return root


def _apply_op(root, op, number):
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise PatchError(f"json patch operation {number}: needs a string member 'op'")
    name = op["op"]
    try:
        path = _pointer(op, "path")
        if name == "add":
            return _add(root, path, _value(op))
        if name == "remove":
            _remove(root, path)
            return root
        if name == "replace":
            return _replace(root, path, _value(op))
        if name == "move":
            source = _pointer(op, "from")
            if source == path:
                _get(root, path)  # must exist, but nothing moves
                return root
            if path.startswith(source + "/"):
                raise PatchError(f"cannot move {source} into its own child {path}")
            return _add(root, path, _remove(root, source))
        if name == "copy":
            return _add(root, path, copy.deepcopy(_get(root, _pointer(op, "from"))))
        if name == "test":
            actual, expected = _get(root, path), _value(op)
            if not _json_equal(actual, expected):
                raise PatchError(f"{path or '/'}: test failed: value is {actual!r}, not {expected!r}")
            return root
        raise PatchError(f"unknown operation {name!r}")
    except PatchError as err:
        raise PatchError(f"json patch operation {number} ({name}): {err}") from None


def _pointer(op, member):
    pointer = op.get(member)
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise PatchError(f"'{member}' must be a JSON pointer, got {pointer!r}")
    if re.search(r"~(?![01])", pointer):
        raise PatchError(f"{pointer}: '~' must be escaped as ~0 (and '/' as ~1)")
    return pointer


def _value(op):
    if "value" not in op:
        raise PatchError("needs a member 'value'")
    return copy.deepcopy(op["value"])  # the result must not alias the patch


def _tokens(pointer):
    # ~1 before ~0, so that "~01" decodes to "~1" (RFC 6901 section 4).
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _index(token, size, pointer, *, append=False):
    """An array index per RFC 6901: digits without leading zeros; '-' (append) only when adding."""
    if append and token == "-":
        return size
    if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"{pointer}: {token!r} is not an array index")
    index = int(token)
    if index > size or (index == size and not append):
        raise PatchError(f"{pointer}: index {index} is out of range (array has {size} items)")
    return index


def _get(root, pointer, tokens=None):
    node = root
    for token in _tokens(pointer) if tokens is None else tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), pointer)]
        else:
            raise PatchError(f"{pointer}: path not found")
    return node


def _parent(root, pointer):
    """The container holding the pointer's target, and the target's last token."""
    tokens = _tokens(pointer)
    parent = _get(root, pointer, tokens[:-1])
    if not isinstance(parent, (dict, list)):
        raise PatchError(f"{pointer}: parent is neither an object nor an array")
    return parent, tokens[-1]


def _add(root, pointer, value):
    if not pointer:
        return value
    parent, token = _parent(root, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    else:
        parent.insert(_index(token, len(parent), pointer, append=True), value)
    return root


def _remove(root, pointer):
    if not pointer:
        raise PatchError("cannot remove the whole document")
    parent, token = _parent(root, pointer)
    if isinstance(parent, list):
        return parent.pop(_index(token, len(parent), pointer))
    if token not in parent:
        raise PatchError(f"{pointer}: path not found")
    return parent.pop(token)


def _replace(root, pointer, value):
    if not pointer:
        return value
    parent, token = _parent(root, pointer)
    if isinstance(parent, list):
        token = _index(token, len(parent), pointer)
    elif token not in parent:
        raise PatchError(f"{pointer}: path not found")
    parent[token] = value
    return root


def _json_equal(a, b):
    """JSON equality: unlike Python's ==, true is not 1; 1 and 1.0 are the same number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return type(a) is type(b) and a == b


# --- Strategic merge patch ------------------------------------------------------------------

def strategic_merge_patch(doc, patch):
    """Kubernetes' strategic merge patch; a top-level `$patch: delete` leaves an empty object."""
    if not isinstance(doc, dict) or not isinstance(patch, dict):
        raise PatchError("strategic merge patch: the document and the patch must both be JSON objects")
    merged = _merge_map(copy.deepcopy(doc), patch, "")
    return {} if merged is _DELETED else merged


def _merge_map(original, patch, path):
    """Merge `patch` into `original`, a private copy that may be changed in place."""
    directive = patch.get("$patch", "merge")
    if directive == "delete":
        return _DELETED  # the field goes, as documented; apimachinery itself leaves an empty map
    if directive == "replace":
        # Applying the rest of the patch to nothing gives its literal content, minus
        # directives and nulls, which must not end up stored in the object.
        original = {}
    elif directive != "merge":  # the default, accepted when explicit (apimachinery rejects it)
        raise PatchError(f"{path or '/'}: unknown $patch directive {directive!r}")
    if "$retainKeys" in patch:
        _retain_keys(original, patch, path)
    fields = {}  # an ordered set: each field once, however many directives name it
    for key in patch:
        if key in ("$patch", "$retainKeys"):
            continue
        field = key.split("/", 1)[1] if key.startswith((_ORDER, _DELETE_FROM)) else key
        if field.startswith("$"):
            raise PatchError(f"{path}/{key}: unknown directive")
        fields[field] = None
    for field in fields:
        _merge_field(original, patch, field, f"{path}/{field}")
    return original


def _retain_keys(original, patch, path):
    """Union types (e.g. a Deployment's strategy): drop every field not listed."""
    retain = patch["$retainKeys"]
    if not isinstance(retain, list) or not all(isinstance(key, str) for key in retain):
        raise PatchError(f"{path or '/'}: $retainKeys must be a list of field names")
    stray = sorted(k for k, v in patch.items() if v is not None and not k.startswith("$") and k not in retain)
    if stray:
        raise PatchError(f"{path or '/'}: {stray} set by the patch but missing from $retainKeys {retain}")
    for key in [key for key in original if key not in retain]:
        del original[key]


def _merge_field(original, patch, field, path):
    doomed = patch.get(_DELETE_FROM + field)
    if doomed is not None:
        if not isinstance(doomed, list):
            raise PatchError(f"{path}: $deleteFromPrimitiveList must be a list")
        if isinstance(original.get(field), list):
            original[field] = [item for item in original[field] if item not in doomed]
    order = patch.get(_ORDER + field)
    if field in patch:
        value = patch[field]
        merged = None if value is None else _merge_value(original.get(field), value, field, order, path)
        if merged is None or merged is _DELETED:
            original.pop(field, None)
        else:
            original[field] = merged
    elif order is not None and _merges(field) and isinstance(original.get(field), list):
        original[field] = _merge_list(original[field], [], field, order, path)  # reorder only


def _merges(field):
    return field in _MERGE_KEYS or field in _SET_FIELDS


def _merge_value(current, value, field, order, path):
    if isinstance(value, dict):
        return _merge_map(current if isinstance(current, dict) else {}, value, path)
    if isinstance(value, list) and _merges(field):
        return _merge_list(current if isinstance(current, list) else [], value, field, order, path)
    return copy.deepcopy(value)


def _merge_list(current, patch, field, order, path):
    key = _MERGE_KEYS.get(field)
    if key is None:  # a set of scalars: union, first occurrence wins
        merged = []
        for item in current + patch:
            if item not in merged:
                merged.append(item)
        patch_keys = patch

        def key_of(item):
            return item
    else:
        merged, patch_keys = _merge_keyed(current, patch, key, path)

        def key_of(item):
            return item.get(key)
    if order is None:
        order_keys = patch_keys
    else:
        order_keys = _order_keys(order, key, path)
        remaining = iter(order_keys)
        if not all(k in remaining for k in patch_keys):  # is patch_keys a subsequence of order_keys?
            raise PatchError(f"{path}: items {patch_keys} do not follow $setElementOrder {order_keys}")
    return _enforce_order(merged, order_keys, [key_of(item) for item in current], key_of)


def _merge_keyed(current, patch, key, path):
    """Merge a list of maps item by item on `key`; returns the list and the patch's keys in order."""
    items, replace = [], False
    for item in patch:
        if not isinstance(item, dict) or (key not in item and item.get("$patch") != "replace"):
            raise PatchError(f"{path}: every item must be an object with the merge key {key!r}, got {item!r}")
        directive = item.get("$patch", "merge")
        if directive == "replace":
            replace = True
        elif directive == "delete":
            current = [old for old in current if old.get(key) != item[key]]  # all matches go
        elif directive == "merge":
            items.append(item)
        else:
            raise PatchError(f"{path}[{key}={item[key]!r}]: unknown $patch directive {directive!r}")
    merged = [] if replace else current
    for item in items:
        content = {k: v for k, v in item.items() if k != "$patch"}
        where = f"{path}[{key}={item[key]!r}]"
        at = next((i for i, old in enumerate(merged) if old.get(key) == item[key]), None)
        if at is None:
            merged.append(_merge_map({}, content, where))
        else:
            merged[at] = _merge_map(merged[at], content, where)
    return merged, [item[key] for item in items]


def _order_keys(order, key, path):
    if not isinstance(order, list):
        raise PatchError(f"{path}: $setElementOrder must be a list")
    if key is None:
        return order
    if not all(isinstance(item, dict) and key in item for item in order):
        raise PatchError(f"{path}: every $setElementOrder item needs the merge key {key!r}")
    return [item[key] for item in order]


def _enforce_order(merged, order_keys, server_keys, key_of):
    """Order a merged list the way the API server does (mergeSortedSlice in apimachinery).

    Items the patch names take the order of $setElementOrder, or else of the patch list.
    The other items keep the server's relative order, and each is slotted in before the
    first named item that came after it on the server; failing that they go last.
    """
    named = sorted((item for item in merged if key_of(item) in order_keys),
                   key=lambda item: order_keys.index(key_of(item)))
    rest = [item for item in merged if key_of(item) not in order_keys]
    result = []
    while named and rest:
        left, right = key_of(rest[0]), key_of(named[0])
        if left in server_keys and right in server_keys \
                and server_keys.index(left) < server_keys.index(right):
            result.append(rest.pop(0))
        else:
            result.append(named.pop(0))
    return result + named + rest
