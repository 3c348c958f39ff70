"""Recovery in a fresh process, through ``WorkflowBuilder.recover()``.

    python recover_script.py --db URL --app-dir DIR [--until-empty]

Prints ``{"pid": ..., "recovered": [ids...], "passes": n}``. With ``--until-empty`` it calls
``recover()`` again until a pass continues nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys


async def main(args: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, os.path.abspath(args.app_dir))
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence import store_from_url

    store = store_from_url(args.db)
    builder = WorkflowBuilder(persistence_provider=store)
    recovered: list[str] = []
    passes = 0
    while True:
        passes += 1
        ids = await builder.recover(limit=args.limit)
        recovered.extend(ids)
        if not ids or not args.until_empty:
            break
    await store.close()
    return {"pid": os.getpid(), "recovered": recovered, "passes": passes}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--until-empty", action="store_true")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
