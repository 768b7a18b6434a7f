# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: `bitcell-node [run|db-check|prune|admin|version]` (run is the default)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from . import __version__, admin, logs
from .chain import BlockStore, NoDatabase, genesis_block, prune, scan
from .config import ConfigError, data_dir_from_env, join_addr, load_config


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --data-dir given before the subcommand is not reset by the subcommand's default.
    common.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="data directory (default: $BITCELL_DATA_DIR or /data/bitcell)")
    parser = argparse.ArgumentParser(prog="bitcell-node", description="BitCell node simulator.", parents=[common])
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("run", parents=[common], help="run the node (the default)")
    commands.add_parser("db-check", parents=[common], help="verify every block file of the database")
    prune_cmd = commands.add_parser("prune", parents=[common], help="delete old block files")
    prune_cmd.add_argument("--keep-recent", type=_int_at_least(1), default=10000, metavar="N",
                           help="keep blocks from head-N up (default 10000)")
    commands.add_parser("version", help="print the version")

    admin_cmd = commands.add_parser("admin", parents=[common], help="call the running node's admin endpoint")
    actions = admin_cmd.add_subparsers(dest="action", metavar="action", required=True)
    ban = actions.add_parser("ban", parents=[common], help="ban miners (EBSL trust)")
    ban.add_argument("miners", nargs="+", metavar="MINER")
    unban = actions.add_parser("unban", parents=[common], help="unban miners")
    unban.add_argument("miners", nargs="*", metavar="MINER")
    unban.add_argument("--all", action="store_true", help="unban every miner")
    actions.add_parser("reset-trust", parents=[common], help="clear every ban")
    mempool = actions.add_parser("mempool", parents=[common], help="change mempool limits at runtime")
    mempool.add_argument("--min-fee", type=_int_at_least(0), metavar="N", help="reject and drop txs paying less")
    mempool.add_argument("--max-pending", type=_int_at_least(1), metavar="N", help="evict the cheapest beyond N")
    actions.add_parser("status", parents=[common], help="print the node's status")
    return parser, {"unban": unban, "mempool": mempool}


def main(argv=None):
    parser, subparsers = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command or "run"
    data_dir = getattr(args, "data_dir", None) or data_dir_from_env()
    if command == "version":
        print(f"bitcell-node {__version__}")
        return 0
    if command == "run":
        return run(data_dir)
    if command == "db-check":
        return db_check(data_dir)
    if command == "prune":
        return prune_db(data_dir, args.keep_recent)
    if args.action == "unban" and args.all == bool(args.miners):
        subparsers["unban"].error("give either --all or one or more miner ids")
    if args.action == "mempool" and args.min_fee is None and args.max_pending is None:
        subparsers["mempool"].error("give --min-fee and/or --max-pending")
    return admin_command(data_dir, args)


def _fatal(message, code):
    print(f"FATAL: {message}", file=sys.stderr, flush=True)
    return code


def run(data_dir):
    from .node import FatalError, Node   # the node (asyncio, servers) only when running one

    try:
        cfg = load_config(data_dir)
    except ConfigError as err:
        return _fatal(err, 2)
    logs.setup()
    try:
        asyncio.run(Node(cfg, data_dir).run())
    except FatalError as err:
        return _fatal(err, err.code)
    except KeyboardInterrupt:
        pass
    return 0


def db_check(data_dir):
    store = BlockStore(data_dir)
    if not store.heights():
        print(f"db-check: no block database in {store.blocks_dir}", file=sys.stderr)
        return 2
    try:
        genesis = genesis_block(load_config(data_dir).chain_id)
    except ConfigError as err:
        print(f"db-check: not checking the genesis block against chain_id ({err})", file=sys.stderr)
        genesis = None
    result = scan(store, genesis=genesis)
    for height, reason in result.problems:
        print(f"CORRUPT: block {height}: {reason}")
    if result.problems:
        print(f"db-check: {len(result.problems)} problem(s), {result.verified} block(s) verified", file=sys.stderr)
        return 1
    print(f"OK: {result.verified} blocks verified (heights {result.low}..{result.high})")
    if result.pruned_below:
        print(f"note: history below height {result.pruned_below} is pruned")
    return 0


def prune_db(data_dir, keep_recent):
    try:
        result = prune(data_dir, keep_recent)
    except NoDatabase as err:
        print(f"prune: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"prune: {err}", file=sys.stderr)
        return 1
    print(f"pruned {result.removed} blocks below height {result.pruned_below} "
          f"(head {result.head}, keep-recent {keep_recent}); freed {result.freed} bytes")
    return 0


def admin_command(data_dir, args):
    try:
        cfg = load_config(data_dir)
    except ConfigError as err:
        print(f"admin: cannot read the node configuration: {err}", file=sys.stderr)
        return 2
    token = admin.read_token(data_dir)
    if token is None:
        print(f"admin: no admin token in {data_dir}/{admin.TOKEN_FILE}; has a node run with this data directory?",
              file=sys.stderr)
        return 1
    body = {}
    if args.action == "ban":
        body = {"miners": args.miners}
    elif args.action == "unban":
        body = {"all": True} if args.all else {"miners": args.miners}
    elif args.action == "mempool":
        body = {key: value for key, value in (("min_fee", args.min_fee), ("mempool_max", args.max_pending))
                if value is not None}
    url = f"http://{join_addr(cfg.local_ip, cfg.metrics_port)}"
    try:
        status, reply = admin.call(url, token, args.action, body)
    except OSError as err:
        reason = getattr(err, "reason", None) or err
        print(f"admin: the node is not running or not reachable at {url}: {reason}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2, sort_keys=True))
    return 0 if status == 200 else 1
