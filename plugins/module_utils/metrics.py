# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Prometheus text exposition parsing (private API).

Parsing is done by ``prometheus_client`` (``prometheus-client`` on PyPI).  It
is optional at import time: callers check ``HAS_PROMETHEUS_CLIENT`` and report
``missing_required_lib('prometheus-client')`` with
``PROMETHEUS_CLIENT_IMPORT_ERROR`` when it is missing.
"""

from __future__ import annotations

import math
import traceback

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError

try:
    from prometheus_client.parser import text_string_to_metric_families
except Exception:  # ImportError, or an installed version that cannot run on this Python (TypeError, SyntaxError)
    HAS_PROMETHEUS_CLIENT = False
    PROMETHEUS_CLIENT_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PROMETHEUS_CLIENT = True
    PROMETHEUS_CLIENT_IMPORT_ERROR = None

__all__ = [
    'HAS_PROMETHEUS_CLIENT',
    'PROMETHEUS_CLIENT_IMPORT_ERROR',
    'MetricsParseError',
    'extract_metrics',
    'json_number',
    'parse_exposition',
    'scalar',
]

_MAX_ERROR_LEN = 200


class MetricsParseError(ChainopsError):
    """The text is not valid Prometheus exposition format."""


def json_number(value):
    """A sample value as JSON: ``None`` for NaN/Inf, ``int`` when integral."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


class Exposition:
    """Parsed exposition: samples indexed by sample name, families by name."""

    def __init__(self):
        self.samples = {}   # sample name -> [(labels dict, float)]
        self.families = {}  # family name -> (type, {sample name: [(labels, float)]})

    def add(self, family_name, family_type, sample_name, labels, value):
        self.samples.setdefault(sample_name, []).append((labels, value))
        fam = self.families.setdefault(family_name, (family_type, {}))
        fam[1].setdefault(sample_name, []).append((labels, value))


def parse_exposition(text):
    """Parse Prometheus text format into an ``Exposition``.

    Raises ``MetricsParseError`` on malformed input and ``ChainopsError`` when
    prometheus_client is not installed (callers should check first).
    """
    if not HAS_PROMETHEUS_CLIENT:
        raise ChainopsError('prometheus-client is required to parse metrics')
    expo = Exposition()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                expo.add(family.name, family.type, sample.name, dict(sample.labels), sample.value)
    except Exception as exc:  # the parser raises ValueError, IndexError, KeyError... on bad input
        detail = str(exc).strip().replace('\n', ' ')
        raise MetricsParseError('invalid Prometheus exposition (%s%s)' % (
            type(exc).__name__, (': ' + detail[:_MAX_ERROR_LEN]) if detail else '')) from None
    return expo


def _shape(samples):
    """One unlabelled sample -> number; otherwise a list of {labels, value}."""
    if len(samples) == 1 and not samples[0][0]:
        return json_number(samples[0][1])
    return [{'labels': dict(labels), 'value': json_number(value)} for labels, value in samples]


def _mean_by_labels(sums, counts):
    """Mean observation (sum / count) per label set of a histogram or summary."""
    count_by_labels = {}
    for labels, value in counts:
        count_by_labels[tuple(sorted(labels.items()))] = value
    means = []
    for labels, total in sums:
        count = count_by_labels.get(tuple(sorted(labels.items())))
        mean = (total / count) if count else None
        means.append((labels, mean))
    return means


def _lookup(expo, name):
    """Samples for a requested metric name, or None when absent.

    An exact sample name wins.  A family name also works: a counter gives its
    ``_total`` samples, an info metric its ``_info`` samples, a histogram or
    summary its mean observation (``_sum`` / ``_count``).
    """
    samples = expo.samples.get(name)
    if samples:
        return samples
    family = expo.families.get(name)
    if family is None:
        return None
    family_type, by_sample = family
    if family_type == 'counter' and by_sample.get(name + '_total'):
        return by_sample[name + '_total']
    if family_type == 'info' and by_sample.get(name + '_info'):
        return by_sample[name + '_info']
    if family_type in ('histogram', 'gaugehistogram', 'summary'):
        sums = by_sample.get(name + '_sum') or by_sample.get(name + '_gsum')
        counts = by_sample.get(name + '_count') or by_sample.get(name + '_gcount')
        if sums and counts:
            return _mean_by_labels(sums, counts)
    return None


def extract_metrics(expo, names):
    """``{name: value}`` for each requested name (``None`` when not exposed).

    An unlabelled metric with one sample gives a number; a labelled metric (or
    several samples) gives a list of ``{'labels': {...}, 'value': number}``.
    """
    result = {}
    for name in names:
        samples = _lookup(expo, name)
        result[name] = None if samples is None else _shape(samples)
    return result


def scalar(expo, name):
    """The value of an unlabelled metric (first sample), or None."""
    samples = _lookup(expo, name)
    if not samples:
        return None
    return json_number(samples[0][1])
