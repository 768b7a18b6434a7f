# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the EVM JSON-RPC modules.

    Twin of ``evm_argument_spec()`` in ``plugins/module_utils/evm.py``.
    """

    DOCUMENTATION = r'''
options:
  rpc_url:
    description:
      - HTTP(S) JSON-RPC endpoint of the chain, for example C(http://127.0.5.1:8545).
      - A password in the URL (C(https://user:secret@host/)) is kept out of results and messages; an API key in the
        path is not, so prefer a user-info password for such endpoints.
    type: str
    required: true
  chain_id:
    description:
      - The chain id the node at O(rpc_url) must serve. When set and the node answers another one, the module refuses
        (and sends nothing), so a playbook pointed at the wrong network does no harm.
      - When not set the chain id is not checked.
    type: int
  timeout:
    description:
      - Seconds each JSON-RPC request may take. Must be > 0.
    type: float
    default: 10.0
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(rpc_url). Set to V(false) only for a lab endpoint with a
        self-signed certificate.
    type: bool
    default: true
requirements:
  - web3 >= 7.10 (with its eth-account and eth-abi) on the host that runs the module
'''
