"""A recovery process of the supervised crash campaign: recover in a loop until told to stop.

    python chaos_recover.py --db URL --app-dir DIR --stop-file PATH [--lease 2.0]
                            [--limit 50] [--pause 0.05]

Calls ``WorkflowBuilder.recover()`` again and again (pausing ``--pause`` seconds after a pass
that continued nothing) until ``--stop-file`` exists and a pass continued nothing, then prints
``{"pid": ..., "recovered": [ids...], "passes": n}``. Several run at once on the same database.
The store is wrapped by ``crashapp.chaos.kill_after_commits``, so the checkpoints ``claim``,
``commit`` and ``commit:<n>`` (and the step functions' ``fn:...``) can SIGKILL it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys


async def main(args: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, os.path.abspath(args.app_dir))
    from crashapp.chaos import kill_after_commits

    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence import store_from_url

    store = kill_after_commits(store_from_url(args.db))
    builder = WorkflowBuilder(persistence_provider=store, lease_seconds=args.lease)
    recovered: list[str] = []
    passes = 0
    try:
        while True:
            passes += 1
            ids = await builder.recover(limit=args.limit)
            recovered.extend(ids)
            if ids:
                continue
            if os.path.exists(args.stop_file):
                break
            await asyncio.sleep(args.pause)
    finally:
        await store.close()
    return {"pid": os.getpid(), "recovered": recovered, "passes": passes}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.05)
    print(json.dumps(asyncio.run(main(parser.parse_args()))), flush=True)
