# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Reusable ``attributes`` documentation for chainops.runbooks modules.

    Use ``chainops.runbooks.attributes`` (descriptions) together with one
    support-level fragment such as ``chainops.runbooks.attributes.read_only``,
    plus ``chainops.runbooks.attributes.actiongroup_fleet`` for every module
    listed in the ``fleet`` action group of ``meta/runtime.yml``.
    """

    # Descriptions of the attributes every module documents.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return a changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or would change in C(check_mode)) when in diff mode.
  idempotent:
    description:
      - When run twice in a row with the same arguments, the second run reports C(changed=false) and changes nothing.
'''

    # Read-only probes: they change nothing, so check mode runs them for real.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module only reads state. In check mode it runs its probes for real and returns exactly what a normal run returns.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - This module never changes anything and always returns C(changed=false).
'''

    # Membership of the fleet action group (module_defaults: group/chainops.runbooks.fleet).
    ACTIONGROUP_FLEET = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/chainops.runbooks.fleet) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - chainops.runbooks.fleet
'''
