# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter ``chainops.runbooks.fleet_targets``; documented in fleet_targets.yml."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# target key -> inventory variable. Only these variables are ever read, so no
# other host variable (passwords, keys, tokens) can end up in module arguments.
TARGET_VARS = (
    ('region', 'chainops_region'),
    ('rpc_url', 'chainops_rpc_url'),
    ('health_url', 'chainops_health_url'),
    ('metrics_url', 'chainops_metrics_url'),
)


def _is_text(value):
    return isinstance(value, str)


def fleet_targets(hostvars, hosts=None):
    """Build fleet_probe targets from the ``chainops_*`` variables of ``hosts``.

    :arg hostvars: the ``hostvars`` magic variable (any mapping of host name to variables).
    :arg hosts: host names, usually ``ansible_play_hosts``; all hosts of ``hostvars`` when omitted.
    :returns: a list of ``{name, region, rpc_url, health_url, metrics_url}`` dicts; unset or
        empty variables are left out.
    """
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('fleet_targets: the input must be hostvars (a mapping of host names to variables), got %s'
                                 % type(hostvars).__name__)
    if hosts is None:
        hosts = list(hostvars)
    elif _is_text(hosts) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError('fleet_targets: hosts must be a list of host names such as ansible_play_hosts, got %s'
                                 % type(hosts).__name__)
    targets = []
    seen = set()
    for index, host in enumerate(hosts):
        if not _is_text(host):
            raise AnsibleFilterError('fleet_targets: hosts[%d] must be a host name (string), got %s' % (index, type(host).__name__))
        if host in seen:
            continue
        seen.add(host)
        if host not in hostvars:
            raise AnsibleFilterError("fleet_targets: hosts[%d]='%s' is not in hostvars; pass hosts of the inventory such as ansible_play_hosts"
                                     % (index, host))
        host_vars = hostvars[host]
        target = {'name': str(host)}
        for key, var in TARGET_VARS:
            if var not in host_vars:
                continue
            value = host_vars[var]
            if value is None or (_is_text(value) and not value.strip()):
                continue
            if not _is_text(value):
                raise AnsibleFilterError('fleet_targets: host %s has %s of type %s; it must be a string' % (host, var, type(value).__name__))
            target[key] = value
        targets.append(target)
    return targets


class FilterModule:
    """chainops.runbooks filters for fleet probing."""

    def filters(self):
        return {
            'fleet_targets': fleet_targets,
        }
