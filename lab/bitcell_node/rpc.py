# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON-RPC 2.0 over HTTP POST `/` (batches included), Ethereum-style where it makes sense."""
from __future__ import annotations

import json
import logging
import re

from . import __version__
from .http import Response, json_response
from .chain import canonical_json
from .mempool import FULL, UNDERPRICED, TxError, normalize_tx

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
SERVER_ERROR = -32000
MAX_BATCH = 1000
_HEX_QUANTITY_RE = re.compile(r"^0x[0-9a-fA-F]+$")

log = logging.getLogger("bitcell")


class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def hexq(value):
    return hex(int(value))


def _params(params, min_count, max_count):
    if params is None:
        params = []
    if not isinstance(params, list) or not min_count <= len(params) <= max_count:
        want = f"{min_count}" if min_count == max_count else f"{min_count} to {max_count}"
        raise RPCError(INVALID_PARAMS, f"expected a list of {want} parameter(s)")
    return params


def block_json(block, full):
    if full:
        txs = [{"hash": "0x" + tx["hash"], "fee": hexq(tx["fee"])} for tx in block.txs]
    else:
        txs = ["0x" + tx["hash"] for tx in block.txs]
    return {"number": hexq(block.height), "hash": "0x" + block.hash, "parentHash": "0x" + block.parent,
            "miner": block.miner, "timestamp": hexq(block.timestamp), "slot": hexq(block.slot),
            "proof": "0x" + block.proof, "size": hexq(len(canonical_json(block.to_dict())) + 1), "transactions": txs}


class RPC:
    def __init__(self, node):
        self.node = node
        self.methods = {
            "eth_blockNumber": self.eth_block_number,
            "eth_getBlockByNumber": self.eth_get_block_by_number,
            "net_peerCount": self.net_peer_count,
            "eth_syncing": self.eth_syncing,
            "eth_chainId": self.eth_chain_id,
            "net_version": self.net_version,
            "web3_clientVersion": self.web3_client_version,
            "bitcell_sendTransaction": self.send_transaction,
            "eth_sendRawTransaction": self.send_raw_transaction,
            "bitcell_nodeInfo": self.node_info,
        }

    async def handle_http(self, request):
        if request.path != "/":
            return json_response({"error": "not found; JSON-RPC is served at /"}, 404)
        if request.method != "POST":
            return Response(status=405, body=b'{"error": "use POST"}\n', headers={"Allow": "POST"})
        reply = self.handle_body(request.body)
        if reply is None:
            return Response(status=204)
        return json_response(reply)

    def handle_body(self, body):
        """Decoded reply for a raw request body (None when only notifications were sent)."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return _error(None, PARSE_ERROR, "parse error")
        if isinstance(payload, list):
            if not payload:
                return _error(None, INVALID_REQUEST, "empty batch")
            if len(payload) > MAX_BATCH:
                return _error(None, INVALID_REQUEST, f"batch larger than {MAX_BATCH}")
            replies = [r for r in map(self.handle_one, payload) if r is not None]
            return replies or None
        return self.handle_one(payload)

    def handle_one(self, call):
        if not isinstance(call, dict):
            return _error(None, INVALID_REQUEST, "invalid request")
        call_id = call.get("id")
        if call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str) \
                or not isinstance(call_id, (str, int, float, type(None))) or isinstance(call_id, bool):
            return _error(call_id if isinstance(call_id, (str, int)) else None, INVALID_REQUEST, "invalid request")
        method = self.methods.get(call["method"])
        try:
            if method is None:
                raise RPCError(METHOD_NOT_FOUND, f"method {call['method']!r} not found")
            params = call.get("params", [])
            if not isinstance(params, (list, dict)):
                raise RPCError(INVALID_PARAMS, "params must be a list or an object")
            result = method(params)
        except RPCError as err:
            return None if "id" not in call else _error(call_id, err.code, err.message)
        except Exception:  # pylint: disable=broad-except
            log.exception("JSON-RPC %s failed", call["method"])
            return None if "id" not in call else _error(call_id, INTERNAL_ERROR, "internal error")
        return None if "id" not in call else {"jsonrpc": "2.0", "id": call_id, "result": result}

    # --- methods -------------------------------------------------------------------------------

    def eth_block_number(self, params):
        _params(params, 0, 0)
        return hexq(self.node.chain.height)

    def eth_get_block_by_number(self, params):
        tag, *rest = _params(params, 1, 2)
        full = rest[0] if rest else False
        if not isinstance(full, bool):
            raise RPCError(INVALID_PARAMS, "second parameter (full transactions) must be a boolean")
        chain = self.node.chain
        if tag in ("latest", "pending", "safe", "finalized"):
            height = chain.height
        elif tag == "earliest":
            height = 0
        elif isinstance(tag, str) and _HEX_QUANTITY_RE.match(tag):
            height = int(tag, 16)
        elif isinstance(tag, int) and not isinstance(tag, bool) and tag >= 0:
            height = tag
        else:
            raise RPCError(INVALID_PARAMS, "block must be a hex quantity or latest|earliest|pending|safe|finalized")
        block = chain.block(height)
        return None if block is None else block_json(block, full)

    def net_peer_count(self, params):
        _params(params, 0, 0)
        return hexq(len(self.node.p2p.peers))

    def eth_syncing(self, params):
        _params(params, 0, 0)
        status = self.node.sync_status()
        if status is None:
            return False
        return {key: hexq(value) for key, value in status.items()}

    def eth_chain_id(self, params):
        _params(params, 0, 0)
        return hexq(self.node.cfg.chain_id)

    def net_version(self, params):
        _params(params, 0, 0)
        return str(self.node.cfg.chain_id)

    def web3_client_version(self, params):
        _params(params, 0, 0)
        return f"bitcell-node/{__version__}"

    def send_transaction(self, params):
        tx = params if isinstance(params, dict) else _params(params, 1, 1)[0]
        try:
            tx = normalize_tx(tx)
        except TxError as err:
            raise RPCError(INVALID_PARAMS, str(err)) from None
        return self._submit(tx)

    def send_raw_transaction(self, params):
        (raw,) = _params(params, 1, 1)
        if not isinstance(raw, str):
            raise RPCError(INVALID_PARAMS, "expected a hex string")
        try:
            tx = normalize_tx({"from": "raw", "nonce": 0, "fee": 1, "data": raw})
        except TxError as err:
            raise RPCError(INVALID_PARAMS, str(err)) from None
        return self._submit(tx)

    def _submit(self, tx):
        status, digest = self.node.submit_tx(tx)
        if status == UNDERPRICED:
            raise RPCError(SERVER_ERROR, f"transaction underpriced: fee {tx['fee']} < min_fee {self.node.mempool.min_fee}")
        if status == FULL:
            raise RPCError(SERVER_ERROR, f"mempool full ({self.node.mempool.max_pending} pending) and fee {tx['fee']} too low to evict")
        return "0x" + digest

    def node_info(self, params):
        if params:
            raise RPCError(INVALID_PARAMS, "no parameters expected")
        return self.node.info()


def _error(call_id, code, message):
    return {"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}}
