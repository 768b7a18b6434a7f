# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter ``chainops.runbooks.node_down``; documented in node_down.yml."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.chainops.runbooks.plugins.module_utils.common import ChainopsError
from ansible_collections.chainops.runbooks.plugins.module_utils.observer import DEFAULT_DOWN_QUORUM, decide


def node_down(observations, k=DEFAULT_DOWN_QUORUM):
    """Apply the k-of-n rule of fleet_probe to ``{observer: up|down|unknown}``.

    :arg observations: a mapping of observer name to ``up``, ``down`` or ``unknown`` (``None`` means unknown).
    :arg k: how many observers must say ``down``; from 1 to the number of observers.
    :returns: ``{declared_down, down_votes, up_votes, unknown_votes, observers_total, k,
        down_observers, up_observers, unknown_observers, verdict}``.
    """
    if not isinstance(observations, Mapping):
        raise AnsibleFilterError('node_down: the input must be a dict of observer name to up, down or unknown, '
                                 'for example {"direct": "down", "peers": "up"}; got %s' % type(observations).__name__)
    try:
        return decide(dict(observations), k)
    except ChainopsError as exc:
        raise AnsibleFilterError('node_down: %s' % exc.msg) from None


class FilterModule:
    """chainops.runbooks filters for the k-of-n node-down rule."""

    def filters(self):
        return {
            'node_down': node_down,
        }
