# SPDX-License-Identifier: GPL-3.0-or-later
"""Label and field selectors, as `?labelSelector=` and `?fieldSelector=` spell them."""
from __future__ import annotations

import re

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


class SelectorError(ValueError):
    pass


def _split_terms(text):
    """Split on commas that are not inside `in (...)` parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def parse_labels(text):
    """`a=b,c!=d,e in (x,y),f notin (z),g,!h` -> [(key, op, values)]."""
    requirements = []
    for term in _split_terms(text or ""):
        for op in ("!=", "==", "="):
            if op in term:
                key, value = (part.strip() for part in term.split(op, 1))
                if not key:
                    raise SelectorError(f"invalid label selector term {term!r}")
                requirements.append((key, "!=" if op == "!=" else "=", (value,)))
                break
        else:
            match = _SET_RE.match(term)
            if not match or (match.group(1) and match.group(3)):
                raise SelectorError(f"invalid label selector term {term!r}")
            negated, key, op, values = match.groups()
            if op:
                requirements.append((key, op, tuple(v.strip() for v in values.split(",") if v.strip())))
            else:
                requirements.append((key, "!exists" if negated else "exists", ()))
    return requirements


def matches_labels(requirements, labels):
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and labels.get(key) != values[0]:
            return False
        if op == "!=" and present and labels[key] == values[0]:
            return False
        if op == "in" and labels.get(key) not in values:
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def from_label_selector(selector):
    """A LabelSelector object (matchLabels / matchExpressions) -> requirements."""
    requirements = [(key, "=", (value,)) for key, value in sorted((selector.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        requirements.append((expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return requirements


def to_string(requirements):
    """Requirements back to the selector string (the Scale subresource reports it)."""
    parts = []
    for key, op, values in requirements:
        if op in ("=", "!="):
            parts.append(f"{key}{op}{values[0]}")
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(values)})")
        else:
            parts.append(key if op == "exists" else f"!{key}")
    return ",".join(parts)


def parse_fields(text):
    """`metadata.name=x,involvedObject.uid!=y` -> [(path, op, value)]."""
    requirements = []
    for term in _split_terms(text or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = (part.strip() for part in term.split(op, 1))
                requirements.append((path, "!=" if op == "!=" else "=", value))
                break
        else:
            raise SelectorError(f"invalid field selector term {term!r}")
    return requirements


def field_value(obj, path):
    """The string a field selector compares: a dotted path into the object ('' when absent)."""
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def matches_fields(requirements, obj):
    return all((field_value(obj, path) == value) == (op == "=") for path, op, value in requirements)
