# SPDX-License-Identifier: GPL-3.0-or-later
"""Label and field selectors as kubectl and the kubernetes client send them."""
from __future__ import annotations

import pytest

from kubelab import selectors

LABELS = {"app": "backend", "tier": "web", "canary": "true"}


@pytest.mark.parametrize("text, expected", [
    ("app=backend", True), ("app==backend", True), ("app=other", False),
    ("app!=other", True), ("app!=backend", False), ("missing!=x", True),
    ("tier in (web, api)", True), ("tier in (api)", False), ("tier notin (api)", True),
    ("tier notin (web)", False), ("canary", True), ("missing", False), ("!missing", True), ("!canary", False),
    ("app=backend,tier in (web,api),!missing", True), ("app=backend,tier=api", False), ("", True),
])
def test_label_selector_terms(text, expected):
    assert selectors.matches_labels(selectors.parse_labels(text), LABELS) is expected


@pytest.mark.parametrize("bad", ["=x", "a in (b", "!a in (b)", "a b"])
def test_bad_label_selectors_are_errors(bad):
    with pytest.raises(selectors.SelectorError):
        selectors.parse_labels(bad)


def test_label_selector_objects_round_trip_to_the_scale_selector_string():
    requirements = selectors.from_label_selector({
        "matchLabels": {"app": "backend"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]},
                             {"key": "debug", "operator": "DoesNotExist"}]})
    assert selectors.to_string(requirements) == "app=backend,tier in (web),!debug"
    assert selectors.matches_labels(requirements, LABELS)
    assert not selectors.matches_labels(requirements, {**LABELS, "debug": "1"})


def test_field_selectors_follow_dotted_paths():
    event = {"metadata": {"name": "e1", "namespace": "default"},
             "involvedObject": {"name": "pod-1", "kind": "Pod", "uid": "u1"}}
    match = selectors.parse_fields("involvedObject.name=pod-1,involvedObject.kind==Pod,metadata.namespace!=kube-system")
    assert selectors.matches_fields(match, event)
    assert not selectors.matches_fields(selectors.parse_fields("involvedObject.uid=u2"), event)
    assert selectors.matches_fields(selectors.parse_fields("spec.nodeName="), event), "absent compares as ''"
    with pytest.raises(selectors.SelectorError):
        selectors.parse_fields("metadata.name")
