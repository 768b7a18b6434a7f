# SPDX-License-Identifier: GPL-3.0-or-later
"""Transaction load for the lab's mempools: a steady trickle, or a spam flood.

Runs until killed (the lab records its pid). Transactions are sent as JSON-RPC
batches so a flood of hundreds per second costs a few requests.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sys
import time
import urllib.request


def send_batch(url, txs, timeout=2.0):
    batch = [{"jsonrpc": "2.0", "id": i, "method": "bitcell_sendTransaction", "params": [tx]}
             for i, tx in enumerate(txs)]
    request = urllib.request.Request(url, data=json.dumps(batch).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        reply.read()


def run(urls, rate, sender, fee_range, batch_every=0.2):
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
    nonce = itertools.count()
    targets = itertools.cycle(urls)
    per_batch = max(1, round(rate * batch_every))
    interval = per_batch / rate
    while True:
        started = time.monotonic()
        txs = [{"from": sender, "nonce": next(nonce), "fee": random.randint(*fee_range),
                "data": os.urandom(16).hex()} for _tx in range(per_batch)]
        try:
            send_batch(next(targets), txs)
        except OSError:
            pass  # a node that is down just misses this batch
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", required=True, help="comma-separated JSON-RPC URLs")
    parser.add_argument("--rate", type=float, default=2.0, help="transactions per second")
    parser.add_argument("--sender", default="lab-users")
    parser.add_argument("--fee", default="10:100", help="fee range min:max")
    args = parser.parse_args(argv)
    low, high = (int(part) for part in args.fee.split(":"))
    if args.rate <= 0:
        parser.error(f"--rate={args.rate} must be > 0")
    run(args.rpc.split(","), args.rate, args.sender, (low, high))


if __name__ == "__main__":
    main()
