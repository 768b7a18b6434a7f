# -*- coding: utf-8 -*-
# Copyright (c) chainops.runbooks maintainers
# SPDX-License-Identifier: GPL-3.0-or-later

"""EVM JSON-RPC client, addresses, amounts, keys, fees and transactions (private API).

Connection
    ``evm_argument_spec()`` is the twin of the ``chainops.runbooks.evm`` doc
    fragment: ``rpc_url`` (required), ``chain_id`` (the chain id the node must
    answer, checked by ``connect``), ``timeout`` (seconds per request, default
    10) and ``validate_certs``.  ``connect(params)`` returns an ``EvmClient``
    (web3 ``HTTPProvider`` underneath, no retries of its own) after checking the
    URL and the chain id: ``rpc_url answers chain id 901 but chain_id=900; ...``.
    ``connect(params, url_option='l2_rpc_url', chain_id_option='l2_chain_id')``
    connects a second chain of the same module.  ``evm_secrets(params)`` lists
    the secrets in the URLs for ``module.no_log_values``.

Errors
    Everything raises ``ChainopsError`` subclasses whose message names the
    option and shows the URL redacted: ``EvmUnreachable`` (transport failure or
    not a JSON-RPC answer; probes report it as data), ``RpcError`` (a JSON-RPC
    ``error`` member: ``code``, ``message``, ``data``), ``ChainIdMismatch``,
    ``GasPriceTooHigh`` (numbers in its details), ``TransactionRejected``
    (``eth_sendRawTransaction`` refused: nothing was sent) and
    ``TransactionPending`` (sent, no receipt before the deadline; ``tx_hash``).

Values
    ``check_address(name, value)`` returns the EIP-55 checksummed address; an
    all-lowercase (or all-uppercase) address is accepted, a mixed-case one must
    carry a correct checksum.  ``to_wei_eth(name, value)`` / ``to_wei_gwei``
    parse decimal amounts (strings, ints, floats as written) with ``Decimal``,
    never through float arithmetic; ``fmt_eth(wei)`` / ``fmt_gwei(wei)`` render
    them back exactly (``'1.5'``), ``eth_float(wei)`` gives a float for results.

Keys
    ``load_private_key(params, option, file_option, env)`` reads a 0x-hex
    private key from the option (declare it ``no_log``), else from the file
    (must be a regular file not accessible by group or others), else from the
    environment variable, and returns an ``eth_account`` ``LocalAccount``.
    Messages never contain the key.  ``protect_key(module, account)`` adds
    every spelling of the key to ``module.no_log_values``.

Fees and transactions
    ``plan_fees(base_fee_wei, priority_fee_wei, cap_wei)`` (pure) and
    ``suggest_fees(client, max_fee_cap_gwei)``: EIP-1559 fees from the latest
    block's base fee and ``eth_maxPriorityFeePerGas`` (falling back to
    ``eth_feeHistory``, then 1 gwei); ``max_fee_per_gas = min(2 * base +
    priority, cap)``, refused with ``GasPriceTooHigh`` when ``base + priority``
    is already above the cap.  ``build_transaction(client, account, tx, ...)``
    fills chainId, nonce (pending), gas (estimated) and fees and is what check
    mode reports; ``sign_and_send(client, account, built, wait_timeout)`` signs
    locally, sends the raw transaction and waits for the receipt;
    ``send_transaction`` does both.  The result is ``{tx_hash, block_number,
    status, gas_used, effective_gas_price_wei, nonce, gas_limit,
    max_fee_per_gas_wei, max_priority_fee_per_gas_wei}``.

Calls
    ``encode_call('getL2Output(uint256)', [5])`` builds calldata;
    ``call(client, to, 'getL2Output(uint256)((bytes32,uint128,uint128))', [5])``
    runs ``eth_call`` and returns ``{'reverted', 'values', 'revert_reason',
    'revert_data', 'no_data'}``: a revert is data, decoded by
    ``decode_revert`` (``Error(string)``, ``Panic(uint256)``, custom error
    selector).  ``get_logs`` / ``event_topic`` read events.
"""

from __future__ import annotations

import os
import re
import stat
import time
import traceback

from decimal import Decimal, InvalidOperation

from ansible_collections.chainops.runbooks.plugins.module_utils.common import (
    ChainopsError,
    check_http_url,
    check_number,
    fmt_value,
    redact_url,
    url_secrets,
)

try:
    import requests
    from eth_abi import decode as abi_decode
    from eth_abi import encode as abi_encode
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address
    from web3 import HTTPProvider
except ImportError:
    HAS_WEB3 = False
    WEB3_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_WEB3 = True
    WEB3_IMPORT_ERROR = None

__all__ = [
    'ChainIdMismatch',
    'EvmClient',
    'EvmError',
    'EvmUnreachable',
    'GasPriceTooHigh',
    'HAS_WEB3',
    'RpcError',
    'TransactionPending',
    'TransactionRejected',
    'WEB3_IMPORT_ERROR',
    'build_transaction',
    'call',
    'check_address',
    'connect',
    'decode_revert',
    'encode_call',
    'eth_float',
    'event_topic',
    'evm_argument_spec',
    'evm_secrets',
    'fmt_eth',
    'fmt_gwei',
    'load_private_key',
    'parse_signature',
    'plan_fees',
    'protect_key',
    'send_transaction',
    'sign_and_send',
    'suggest_fees',
    'to_wei_eth',
    'to_wei_gwei',
]

WEI_PER_ETH = 10 ** 18
WEI_PER_GWEI = 10 ** 9
DEFAULT_TIMEOUT = 10.0
DEFAULT_PRIORITY_FEE_WEI = WEI_PER_GWEI
TRANSFER_GAS = 21000
DEFAULT_GAS_MARGIN = 1.25
RECEIPT_POLL_SECONDS = 0.5
KEY_FILE_MAX_BYTES = 4096
# secp256k1 group order: a private key is an integer in [1, n - 1].
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

ERROR_SELECTOR = '08c379a0'     # Error(string)
PANIC_SELECTOR = '4e487b71'     # Panic(uint256)
PANIC_CODES = {
    0x00: 'generic compiler panic',
    0x01: 'assert failed',
    0x11: 'arithmetic overflow or underflow',
    0x12: 'division or modulo by zero',
    0x21: 'invalid enum value',
    0x22: 'invalid storage byte array',
    0x31: 'pop on an empty array',
    0x32: 'array index out of bounds',
    0x41: 'out of memory',
    0x51: 'call to an uninitialised function',
}

_ADDRESS_RE = re.compile(r'^0x[0-9a-fA-F]{40}$')
_HEX_KEY_RE = re.compile(r'^(?:0x|0X)?[0-9a-fA-F]{64}$')
_DECIMAL_RE = re.compile(r'^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$')
_SIGNATURE_RE = re.compile(r'^([A-Za-z_$][A-Za-z0-9_$]*)(\(.*)$')


def evm_argument_spec():
    """Connection options of the EVM modules (twin of the ``chainops.runbooks.evm`` doc fragment)."""
    return dict(
        rpc_url=dict(type='str', required=True),
        chain_id=dict(type='int'),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
        validate_certs=dict(type='bool', default=True),
    )


def evm_secrets(params, options=('rpc_url',)):
    """Secrets embedded in the URL options (user-info passwords), for ``module.no_log_values``."""
    secrets = []
    for option in options:
        secrets.extend(url_secrets(params.get(option)))
    return secrets


# --- errors ---------------------------------------------------------------------------

class EvmError(ChainopsError):
    """Base of the errors of this module."""


class EvmUnreachable(EvmError):
    """No usable JSON-RPC answer (transport failure, HTTP error status, not JSON-RPC)."""

    def __init__(self, msg, reason=None, **details):
        super().__init__(msg, **details)
        self.reason = reason


class RpcError(EvmError):
    """The node answered with a JSON-RPC ``error`` member."""

    def __init__(self, msg, code=None, message=None, data=None, **details):
        super().__init__(msg, **details)
        self.code = code
        self.rpc_message = message
        self.data = data


class ChainIdMismatch(EvmError):
    """The node serves another chain than the one the options expect."""


class GasPriceTooHigh(EvmError):
    """The fees needed now are above the gas price cap; nothing was sent."""


class TransactionRejected(EvmError):
    """``eth_sendRawTransaction`` refused the transaction: nothing was sent."""


class TransactionPending(EvmError):
    """The transaction was sent but no receipt came before the deadline."""


# --- values ---------------------------------------------------------------------------

def check_address(name, value):
    """Return ``value`` as an EIP-55 checksummed address, or raise ChainopsError naming ``name``."""
    if not isinstance(value, str) or not _ADDRESS_RE.match(value.strip()):
        raise ChainopsError('%s=%s is not a valid address: expected 0x followed by 40 hex digits' % (
            name, fmt_value(value)))
    value = value.strip()
    digits = value[2:]
    checksummed = to_checksum_address(value.lower())
    if digits != digits.lower() and digits != digits.upper() and value != checksummed:
        raise ChainopsError('%s=%s is not a valid address: bad EIP-55 checksum; use %s (the checksummed form) '
                            'once you have checked every character, as a wrong checksum often means a typo' % (
                                name, fmt_value(value), checksummed))
    return checksummed


def _to_decimal(name, value, unit):
    if isinstance(value, bool) or value is None:
        raise ChainopsError('%s=%s is not an amount; give a decimal number of %s such as 1.5' % (
            name, fmt_value(value), unit))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that reads back as this float: what the user wrote in YAML.
        text = repr(value)
    elif isinstance(value, (str, Decimal)):
        text = str(value).strip()
    else:
        raise ChainopsError('%s=%s is not an amount; give a decimal number of %s such as 1.5' % (
            name, fmt_value(value), unit))
    if isinstance(value, float) and 'e' in text.lower():
        try:
            return Decimal(text)
        except InvalidOperation:
            pass
    if not _DECIMAL_RE.match(text):
        raise ChainopsError('%s=%s is not an amount; give a decimal number of %s such as 1.5 '
                            '(digits and one decimal point, no exponent or unit)' % (name, fmt_value(value), unit))
    return Decimal(text)


def _to_base_units(name, value, unit, decimals, minimum):
    amount = _to_decimal(name, value, unit)
    if not amount.is_finite():
        raise ChainopsError('%s=%s is not an amount; it must be finite' % (name, fmt_value(value)))
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ChainopsError('%s=%s has more than %d decimals, which is below 1 wei; round it' % (
            name, fmt_value(value), decimals))
    wei = int(scaled)
    if minimum is not None and wei < minimum:
        raise ChainopsError('%s=%s is not allowed; %s must be >= %s %s' % (
            name, fmt_value(value), name, _fmt_units(minimum, decimals), unit))
    return wei


def to_wei_eth(name, value, minimum=0):
    """Decimal ETH (``'1.5'``, ``5``, ``0.25``) to integer wei, exactly; ``minimum`` in wei (None: any)."""
    return _to_base_units(name, value, 'ETH', 18, minimum)


def to_wei_gwei(name, value, minimum=0):
    """Decimal gwei to integer wei, exactly."""
    return _to_base_units(name, value, 'gwei', 9, minimum)


def _fmt_units(wei, decimals):
    if wei is None:
        return None
    sign = '-' if wei < 0 else ''
    whole, frac = divmod(abs(int(wei)), 10 ** decimals)
    text = str(frac).zfill(decimals).rstrip('0')
    return '%s%d%s' % (sign, whole, ('.' + text) if text else '')


def fmt_eth(wei):
    """Integer wei as exact decimal ETH text: ``1500000000000000000`` -> ``'1.5'``."""
    return _fmt_units(wei, 18)


def fmt_gwei(wei):
    """Integer wei as exact decimal gwei text."""
    return _fmt_units(wei, 9)


def eth_float(wei):
    """Integer wei as a float number of ETH (for results and comparisons; ``*_wei`` keys stay exact)."""
    if wei is None:
        return None
    return float(Decimal(int(wei)) / Decimal(WEI_PER_ETH))


def _hex_int(value, what):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value[:2] in ('0x', '0X'):
        try:
            return int(value, 16) if len(value) > 2 else 0
        except ValueError:
            pass
    raise EvmError('the node returned %s for %s, not a hex quantity' % (fmt_value(value)[:80], what))


def _block_tag(block):
    if isinstance(block, int) and not isinstance(block, bool):
        return hex(block)
    return block


# --- keys -----------------------------------------------------------------------------

def _parse_key(text, where):
    """``where`` names the source in messages; the key itself never appears in them."""
    candidate = text.strip() if isinstance(text, str) else ''
    if not _HEX_KEY_RE.match(candidate):
        shape = 'it is empty' if not candidate else '%d characters after stripping whitespace' % len(candidate)
        raise ChainopsError('%s is not a private key: expected 64 hex digits (32 bytes), optionally 0x-prefixed '
                            '(%s); the key is not shown' % (where, shape))
    digits = candidate[2:] if candidate[:2] in ('0x', '0X') else candidate
    number = int(digits, 16)
    if not 0 < number < SECP256K1_N:
        raise ChainopsError('%s is not a private key: the value is outside the secp256k1 range; the key is not shown'
                            % where)
    return digits.lower()


def _read_key_file(option, path):
    shown = '%s=%s' % (option, path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ChainopsError('%s cannot be read (%s); give the path of a file holding the 0x-hex private key' % (
            shown, os.strerror(exc.errno) if exc.errno else exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ChainopsError('%s is not a regular file; give the path of a file holding the 0x-hex private key'
                                % shown)
        if info.st_mode & 0o077:
            raise ChainopsError('%s is accessible by group or others (mode %04o); a key file must be private: '
                                'chmod 600 %s' % (shown, stat.S_IMODE(info.st_mode), path))
        data = os.read(fd, KEY_FILE_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > KEY_FILE_MAX_BYTES:
        raise ChainopsError('%s is larger than %d bytes; it must hold only the 0x-hex private key' % (
            shown, KEY_FILE_MAX_BYTES))
    try:
        return data.decode('ascii')
    except UnicodeDecodeError:
        raise ChainopsError('%s is not a private key: it is not ASCII text; the key is not shown' % shown) from None


def load_private_key(params, option='private_key', file_option='private_key_file', env=None):
    """The ``LocalAccount`` of the key in ``params[option]``, else ``params[file_option]``, else ``$env``.

    Declare ``option`` with ``no_log=True`` and ``file_option`` with
    ``type='path', no_log=False``.  Raises ChainopsError (never showing the key)
    when none is set or the key is malformed.
    """
    if params.get(option):
        digits = _parse_key(params[option], option)
    elif file_option and params.get(file_option):
        digits = _parse_key(_read_key_file(file_option, params[file_option]), '%s=%s' % (
            file_option, params[file_option]))
    elif env and os.environ.get(env):
        digits = _parse_key(os.environ[env], 'the environment variable %s' % env)
    else:
        sources = [option] + ([file_option] if file_option else [])
        way = ', '.join(sources) + (' or the environment variable %s' % env if env else '')
        raise ChainopsError('no private key given; set %s' % way)
    return Account.from_key(bytes.fromhex(digits))


def key_source(params, option='private_key', file_option='private_key_file', env=None):
    """Where ``load_private_key`` takes the key from (``option``, ``file_option`` or ``env:<NAME>``), or None."""
    if params.get(option):
        return option
    if file_option and params.get(file_option):
        return file_option
    if env and os.environ.get(env):
        return 'env:%s' % env
    return None


def key_spellings(account):
    """Every spelling of ``account``'s private key a log could contain."""
    digits = bytes(account.key).hex()
    return [digits, '0x' + digits, digits.upper(), '0x' + digits.upper(), '0X' + digits.upper()]


def protect_key(module, account):
    """Add the key of ``account`` to ``module.no_log_values`` (every spelling)."""
    for value in key_spellings(account):
        module.no_log_values.add(value)


# --- client ---------------------------------------------------------------------------

def _transport_reason(exc, timeout):
    if isinstance(exc, requests.exceptions.Timeout):
        return 'timed out after %ss' % fmt_value(timeout)
    if isinstance(exc, requests.exceptions.SSLError):
        return 'TLS error (certificate not trusted? validate_certs=false only for a lab endpoint)'
    if isinstance(exc, requests.exceptions.HTTPError):
        response = getattr(exc, 'response', None)
        if response is not None:
            return 'HTTP %d%s' % (response.status_code, (' ' + response.reason) if response.reason else '')
        return 'HTTP error'
    text = str(exc)
    if 'Connection refused' in text or 'ConnectionRefusedError' in text:
        return 'connection refused'
    if 'Name or service not known' in text or 'Failed to resolve' in text or 'nodename nor servname' in text \
            or 'Temporary failure in name resolution' in text:
        return 'name resolution failed'
    if 'RemoteDisconnected' in text or 'Connection aborted' in text:
        return 'server closed the connection without a response'
    if 'Connection reset' in text:
        return 'connection reset by peer'
    if isinstance(exc, requests.exceptions.InvalidURL):
        return 'invalid URL'
    return 'connection failed (%s)' % type(exc).__name__


class EvmClient:
    """One JSON-RPC endpoint of an EVM chain; every error names ``option`` and shows the URL redacted."""

    def __init__(self, rpc_url, timeout=DEFAULT_TIMEOUT, validate_certs=True, option='rpc_url', provider=None):
        self.rpc_url = rpc_url
        self.option = option
        self.timeout = timeout
        self.shown = '%s=%s' % (option, redact_url(rpc_url))
        if provider is None:
            provider = HTTPProvider(rpc_url, request_kwargs={'timeout': timeout, 'verify': validate_certs},
                                    exception_retry_configuration=None)
        self.provider = provider
        self._chain_id = None

    def request(self, method, params=None):
        """The ``result`` of ``method``; raises ``EvmUnreachable`` or ``RpcError``."""
        try:
            response = self.provider.make_request(method, list(params or []))
        except requests.exceptions.RequestException as exc:
            reason = _transport_reason(exc, self.timeout)
            raise EvmUnreachable('%s is unreachable (%s) on %s; check %s and that the node is up' % (
                self.shown, reason, method, self.option), reason=reason) from None
        except (ValueError, TypeError, UnicodeDecodeError):
            reason = 'the answer is not JSON-RPC'
            raise EvmUnreachable('%s gave an answer to %s that is not JSON-RPC; is %s an Ethereum JSON-RPC endpoint?' % (
                self.shown, method, self.option), reason=reason) from None
        if not isinstance(response, dict):
            raise EvmUnreachable('%s gave an answer to %s that is not a JSON-RPC object' % (self.shown, method),
                                 reason='the answer is not JSON-RPC')
        error = response.get('error')
        if error is not None:
            if isinstance(error, dict):
                code, message, data = error.get('code'), str(error.get('message')), error.get('data')
            else:
                code, message, data = None, str(error), None
            raise RpcError('%s failed %s: JSON-RPC error %s: %s' % (self.shown, method, code, message[:300]),
                           code=code, message=message, data=data)
        if 'result' not in response:
            raise EvmUnreachable('%s gave an answer to %s without a result' % (self.shown, method),
                                 reason='the answer is not JSON-RPC')
        return response['result']

    def chain_id(self):
        if self._chain_id is None:
            self._chain_id = _hex_int(self.request('eth_chainId'), 'eth_chainId')
        return self._chain_id

    def block_number(self):
        return _hex_int(self.request('eth_blockNumber'), 'eth_blockNumber')

    def get_block(self, block='latest'):
        """The block header as the node returns it (hex fields), or None when there is no such block."""
        return self.request('eth_getBlockByNumber', [_block_tag(block), False])

    def balance(self, address, block='latest'):
        return _hex_int(self.request('eth_getBalance', [address, _block_tag(block)]), 'eth_getBalance')

    def nonce(self, address, block='latest'):
        return _hex_int(self.request('eth_getTransactionCount', [address, _block_tag(block)]),
                        'eth_getTransactionCount')

    def code(self, address, block='latest'):
        return self.request('eth_getCode', [address, _block_tag(block)]) or '0x'

    def estimate_gas(self, tx):
        return _hex_int(self.request('eth_estimateGas', [_rpc_tx(tx)]), 'eth_estimateGas')

    def max_priority_fee(self):
        return _hex_int(self.request('eth_maxPriorityFeePerGas'), 'eth_maxPriorityFeePerGas')

    def send_raw(self, raw_hex):
        return self.request('eth_sendRawTransaction', [raw_hex])

    def receipt(self, tx_hash):
        return self.request('eth_getTransactionReceipt', [tx_hash])

    def eth_call(self, tx, block='latest'):
        return self.request('eth_call', [_rpc_tx(tx), _block_tag(block)])

    def logs(self, flt):
        return self.request('eth_getLogs', [flt])


def _rpc_tx(tx):
    out = {}
    for key, value in tx.items():
        if value is None:
            continue
        if key == 'data' and isinstance(value, (bytes, bytearray)):
            value = '0x' + bytes(value).hex()
        elif isinstance(value, int) and not isinstance(value, bool) and key not in ('to', 'from'):
            value = hex(value)
        out[key] = value
    return out


def connect(params, url_option='rpc_url', chain_id_option='chain_id', check_chain=True, provider=None):
    """An ``EvmClient`` for ``params[url_option]``, its chain id checked against ``params[chain_id_option]``.

    ``timeout`` and ``validate_certs`` come from ``params``.  Raises
    ChainopsError for a bad URL or timeout, ``EvmUnreachable`` when the node
    does not answer and ``ChainIdMismatch`` when it serves another chain.
    """
    url = params.get(url_option)
    check_http_url(url_option, url)
    check_number('timeout', params.get('timeout', DEFAULT_TIMEOUT), minimum=0, exclusive_minimum=True,
                 unit='seconds')
    expected = params.get(chain_id_option) if chain_id_option else None
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int) or expected < 1):
        raise ChainopsError('%s=%s is not allowed; %s must be a positive integer chain id' % (
            chain_id_option, fmt_value(expected), chain_id_option))
    client = EvmClient(url, timeout=float(params.get('timeout', DEFAULT_TIMEOUT)),
                       validate_certs=params.get('validate_certs', True), option=url_option, provider=provider)
    if check_chain and expected is not None:
        check_chain_id(client, expected, url_option, chain_id_option)
    return client


def check_chain_id(client, expected, url_option='rpc_url', chain_id_option='chain_id'):
    actual = client.chain_id()
    if actual != expected:
        raise ChainIdMismatch('%s answers chain id %d but %s=%d; point %s at a chain %d node or correct %s' % (
            url_option, actual, chain_id_option, expected, url_option, expected, chain_id_option),
            chain_id=actual)
    return actual


# --- fees -----------------------------------------------------------------------------

def plan_fees(base_fee_wei, priority_fee_wei, cap_wei=None, cap_option='max_gas_price_gwei'):
    """EIP-1559 fees (pure): ``{base_fee_wei, max_priority_fee_per_gas_wei, max_fee_per_gas_wei, cap_wei}``.

    ``max_fee_per_gas = 2 * base + priority`` (room for six full blocks of
    base-fee rises), lowered to ``cap_wei`` when that is less; raises
    ``GasPriceTooHigh`` when ``base + priority`` is already above the cap.
    """
    needed = base_fee_wei + priority_fee_wei
    if cap_wei is not None and needed > cap_wei:
        raise GasPriceTooHigh(
            'gas price too high: base fee %s gwei + priority fee %s gwei = %s gwei is above %s=%s; nothing was sent; '
            'wait for the fees to fall or raise %s' % (
                fmt_gwei(base_fee_wei), fmt_gwei(priority_fee_wei), fmt_gwei(needed), cap_option, fmt_gwei(cap_wei),
                cap_option),
            fees=dict(base_fee_wei=base_fee_wei, max_priority_fee_per_gas_wei=priority_fee_wei,
                      needed_fee_per_gas_wei=needed, cap_wei=cap_wei))
    max_fee = 2 * base_fee_wei + priority_fee_wei
    if cap_wei is not None:
        max_fee = min(max_fee, cap_wei)
    return dict(base_fee_wei=base_fee_wei, max_priority_fee_per_gas_wei=priority_fee_wei,
                max_fee_per_gas_wei=max_fee, cap_wei=cap_wei)


def _priority_fee(client):
    try:
        return client.max_priority_fee(), 'eth_maxPriorityFeePerGas'
    except RpcError:
        pass
    try:
        history = client.request('eth_feeHistory', [hex(5), 'latest', [50]])
        rewards = [_hex_int(item[0], 'eth_feeHistory') for item in (history or {}).get('reward') or [] if item]
        if rewards:
            rewards.sort()
            return rewards[len(rewards) // 2], 'eth_feeHistory'
    except (RpcError, EvmError, TypeError, IndexError, AttributeError):
        pass
    return DEFAULT_PRIORITY_FEE_WEI, 'default'


def suggest_fees(client, max_fee_cap_gwei=None, cap_option='max_gas_price_gwei'):
    """``plan_fees`` with the latest base fee and the node's priority fee; also ``priority_fee_source``."""
    cap_wei = None if max_fee_cap_gwei is None else to_wei_gwei(cap_option, max_fee_cap_gwei, minimum=1)
    block = client.get_block('latest')
    if not block or block.get('baseFeePerGas') is None:
        raise EvmError('%s serves a chain without EIP-1559 (no baseFeePerGas in the latest block); '
                       'these modules send EIP-1559 transactions only' % client.shown)
    base = _hex_int(block['baseFeePerGas'], 'baseFeePerGas')
    priority, source = _priority_fee(client)
    fees = plan_fees(base, priority, cap_wei, cap_option)
    fees['priority_fee_source'] = source
    return fees


# --- transactions ---------------------------------------------------------------------

def build_transaction(client, account, tx, fees=None, nonce=None, gas=None, max_fee_cap_gwei=None,
                      gas_margin=DEFAULT_GAS_MARGIN, cap_option='max_gas_price_gwei'):
    """``tx`` (``to``, ``value``, ``data``) with type 2, chainId, nonce, gas and fees filled in.

    The nonce defaults to the account's pending nonce; gas is estimated (a
    plain transfer of 21000 is kept, contract calls get ``gas_margin``).
    Returns the dict ``sign_and_send`` signs; check mode can report it as is.
    """
    built = {'type': 2, 'chainId': client.chain_id(), 'to': tx.get('to'), 'value': int(tx.get('value') or 0),
             'data': tx.get('data') or '0x'}
    if built['to'] is not None:
        built['to'] = check_address('to', built['to'])
    built['nonce'] = client.nonce(account.address, 'pending') if nonce is None else nonce
    if gas is None:
        estimate = client.estimate_gas({'from': account.address, 'to': built['to'], 'value': built['value'],
                                        'data': built['data']})
        gas = estimate if estimate <= TRANSFER_GAS else int(estimate * gas_margin)
    built['gas'] = gas
    if fees is None:
        fees = suggest_fees(client, max_fee_cap_gwei, cap_option)
    built['maxFeePerGas'] = fees['max_fee_per_gas_wei']
    built['maxPriorityFeePerGas'] = fees['max_priority_fee_per_gas_wei']
    return built


def _receipt_summary(built, tx_hash, receipt):
    return dict(tx_hash=tx_hash, block_number=_hex_int(receipt.get('blockNumber'), 'blockNumber'),
                status=_hex_int(receipt.get('status'), 'status'),
                gas_used=_hex_int(receipt.get('gasUsed'), 'gasUsed'),
                effective_gas_price_wei=_hex_int(receipt.get('effectiveGasPrice') or '0x0', 'effectiveGasPrice'),
                nonce=built['nonce'], gas_limit=built['gas'], max_fee_per_gas_wei=built['maxFeePerGas'],
                max_priority_fee_per_gas_wei=built['maxPriorityFeePerGas'])


def sign_and_send(client, account, built, wait_timeout=120.0, clock=time.monotonic, sleep=time.sleep):
    """Sign ``built`` locally, send it raw and wait up to ``wait_timeout`` seconds for the receipt."""
    signed = account.sign_transaction(dict(built))
    raw = '0x' + bytes(signed.raw_transaction).hex()
    local_hash = '0x' + bytes(signed.hash).hex()
    deadline = clock() + wait_timeout
    try:
        tx_hash = client.send_raw(raw)
    except RpcError as exc:
        raise TransactionRejected('the node at %s rejected the transaction (nonce %d): %s; nothing was sent' % (
            client.shown, built['nonce'], exc.rpc_message[:300]), tx_hash=local_hash) from None
    except EvmUnreachable as exc:
        raise TransactionPending('%s failed while sending transaction %s (%s): it may or may not have been '
                                 'broadcast; look the hash up before retrying' % (
                                     client.shown, local_hash, exc.reason), tx_hash=local_hash) from None
    tx_hash = tx_hash or local_hash
    while True:
        try:
            receipt = client.receipt(tx_hash)
        except EvmUnreachable:
            receipt = None
        if receipt and receipt.get('blockNumber'):
            return _receipt_summary(built, tx_hash, receipt)
        if clock() >= deadline:
            raise TransactionPending('sent transaction %s (nonce %d) but no receipt within wait_timeout=%s; it may '
                                     'still be mined: look the hash up before retrying' % (
                                         tx_hash, built['nonce'], fmt_value(wait_timeout)), tx_hash=tx_hash)
        sleep(min(RECEIPT_POLL_SECONDS, max(0.0, deadline - clock())))


def send_transaction(client, account, tx, wait_timeout=120.0, max_fee_cap_gwei=None, **kwargs):
    """``build_transaction`` then ``sign_and_send``; returns the receipt summary."""
    built = build_transaction(client, account, tx, max_fee_cap_gwei=max_fee_cap_gwei, **kwargs)
    return sign_and_send(client, account, built, wait_timeout)


# --- calls ----------------------------------------------------------------------------

def _split_types(text, signature):
    """``'(uint256,(bytes32,uint128))'`` -> ``['uint256', '(bytes32,uint128)']``."""
    if not text.startswith('(') or not text.endswith(')'):
        raise ChainopsError('abi signature %s is malformed; use name(types)(types), e.g. '
                            'getL2Output(uint256)((bytes32,uint128,uint128))' % fmt_value(signature))
    inner = text[1:-1]
    types, depth, start = [], 0, 0
    for index, char in enumerate(inner):
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
            if depth < 0:
                break
        elif char == ',' and depth == 0:
            types.append(inner[start:index].strip())
            start = index + 1
    if depth != 0:
        raise ChainopsError('abi signature %s has unbalanced parentheses' % fmt_value(signature))
    last = inner[start:].strip()
    if last:
        types.append(last)
    if any(not item for item in types):
        raise ChainopsError('abi signature %s has an empty type' % fmt_value(signature))
    return types


def _top_level_groups(rest, signature):
    """``'(uint256)(bytes32,uint128)'`` -> ``['(uint256)', '(bytes32,uint128)']``."""
    groups, depth, start = [], 0, None
    for index, char in enumerate(rest):
        if char == '(':
            if depth == 0:
                start = index
            depth += 1
        elif char == ')':
            depth -= 1
            if depth == 0:
                groups.append(rest[start:index + 1])
        elif depth == 0 and not char.isspace():
            start = None
            groups = None
            break
    if groups is None or depth != 0 or not 1 <= len(groups) <= 2:
        raise ChainopsError('abi signature %s is malformed; use name(types) or name(types)(types), e.g. '
                            'latestOutputIndex()(uint256)' % fmt_value(signature))
    return groups


def parse_signature(signature):
    """``'name(in)(out)'`` -> ``(name, [input types], [output types], 'name(in)')``."""
    match = _SIGNATURE_RE.match(signature.strip()) if isinstance(signature, str) else None
    if not match:
        raise ChainopsError('abi signature %s is malformed; use name(types)(types), e.g. latestOutputIndex()(uint256)'
                            % fmt_value(signature))
    name = match.group(1)
    groups = _top_level_groups(match.group(2), signature)
    inputs = _split_types(groups[0], signature)
    outputs = _split_types(groups[1], signature) if len(groups) == 2 else []
    return name, inputs, outputs, '%s(%s)' % (name, ','.join(inputs))


def selector(text_signature):
    """The 4-byte function selector of ``'name(types)'`` as 8 hex digits."""
    return keccak(text=text_signature)[:4].hex()


def event_topic(text_signature):
    """topic0 of an event ``'Name(types)'``: 0x + 64 hex digits."""
    return '0x' + keccak(text=text_signature).hex()


def encode_call(signature, args=()):
    """Calldata (0x-hex) of ``signature`` (outputs, if given, are ignored) with ``args``."""
    _name, inputs, _outputs, canonical = parse_signature(signature)
    if len(args) != len(inputs):
        raise ChainopsError('%s takes %d arguments, got %d' % (canonical, len(inputs), len(args)))
    return '0x' + selector(canonical) + abi_encode(inputs, list(args)).hex()


def _strip_hex(data):
    if data is None:
        return ''
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).hex()
    text = str(data)
    return text[2:] if text[:2] in ('0x', '0X') else text


def decode_revert(data, message=None):
    """Decode revert data (pure): ``{'reason', 'kind', 'selector', 'data'}``.

    ``kind`` is ``error`` (``Error(string)``: ``reason`` is the string),
    ``panic`` (``Panic(uint256)``: ``code`` too), ``custom`` (an unknown 4-byte
    selector), or ``empty`` (no data; ``message`` from the node, if any, is
    used as the reason).
    """
    digits = _strip_hex(data).lower()
    result = {'reason': None, 'kind': 'empty', 'selector': None, 'data': '0x' + digits, 'code': None}
    if len(digits) < 8:
        text = (message or '').strip()
        result['reason'] = text if text and text.lower() != 'execution reverted' else 'reverted without a reason'
        return result
    result['selector'] = '0x' + digits[:8]
    payload = bytes.fromhex(digits[8:]) if len(digits) % 2 == 0 else b''
    if digits[:8] == ERROR_SELECTOR:
        try:
            result.update(kind='error', reason=abi_decode(['string'], payload)[0])
            return result
        except Exception:  # malformed Error(string): fall through to custom
            pass
    if digits[:8] == PANIC_SELECTOR:
        try:
            code = abi_decode(['uint256'], payload)[0]
            result.update(kind='panic', code=code, reason='panic 0x%02x (%s)' % (
                code, PANIC_CODES.get(code, 'unknown panic code')))
            return result
        except Exception:
            pass
    result.update(kind='custom', reason='custom error %s' % result['selector'])
    return result


def _is_revert(exc):
    text = (exc.rpc_message or '').lower()
    return exc.code == 3 or 'revert' in text


def _revert_data(exc):
    data = exc.data
    if isinstance(data, dict):
        data = data.get('data') or data.get('result')
    if isinstance(data, str) and (data.startswith('0x') or data.startswith('0X')):
        return data
    return None


def _plain(value):
    if isinstance(value, (bytes, bytearray)):
        return '0x' + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str) and _ADDRESS_RE.match(value):
        return to_checksum_address(value)
    return value


def call(client, to, abi_signature, args=(), block='latest', from_address=None):
    """``eth_call`` of ``abi_signature`` (``name(in)(out)``) on ``to``; a revert is data.

    Returns ``{'reverted': bool, 'values': [decoded outputs] or None,
    'revert_reason', 'revert_kind', 'revert_data', 'no_data': bool}``;
    ``no_data`` means the call succeeded but returned nothing although outputs
    were expected (no contract at ``to``, or a fallback function).  Transport
    and other node errors raise.  bytes come back as 0x-hex, addresses
    checksummed, tuples as lists.
    """
    _name, _inputs, outputs, canonical = parse_signature(abi_signature)
    tx = {'to': to, 'data': encode_call(abi_signature, args)}
    if from_address:
        tx['from'] = from_address
    result = {'reverted': False, 'values': None, 'revert_reason': None, 'revert_kind': None, 'revert_data': None,
              'no_data': False}
    try:
        raw = client.eth_call(tx, block)
    except RpcError as exc:
        if not _is_revert(exc):
            raise
        revert = decode_revert(_revert_data(exc), exc.rpc_message)
        result.update(reverted=True, revert_reason=revert['reason'], revert_kind=revert['kind'],
                      revert_data=revert['data'])
        return result
    digits = _strip_hex(raw)
    if not outputs:
        result['values'] = []
        return result
    if not digits:
        result['no_data'] = True
        return result
    try:
        values = abi_decode(outputs, bytes.fromhex(digits))
    except Exception:
        raise EvmError('%s on %s returned %d bytes that do not decode as (%s); is %s the right contract?' % (
            canonical, to, len(digits) // 2, ','.join(outputs), to)) from None
    result['values'] = _plain(list(values))
    return result


def get_logs(client, address, topic0, from_block, to_block='latest'):
    """``eth_getLogs`` of ``address`` with ``topic0`` between the blocks (inclusive)."""
    return client.logs({'address': address, 'topics': [topic0], 'fromBlock': _block_tag(from_block),
                        'toBlock': _block_tag(to_block)}) or []
