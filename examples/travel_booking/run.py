"""Book a trip (flight, hotel and car side by side, a payment child workflow, a notification over
HTTP, a confirmation) on a SQLite file, in saga mode:

    python run.py [--fail] [--threads] [--trip T-100] [--traveller ann] [--amount 1250]

--fail (or TRAVEL_FAIL=1) makes the last step, Confirm, fail: everything done before is undone,
child first. --threads books on a thread pool (side by side) instead of one after another.
Environment:

    TRAVEL_DB       the SQLite file (default travel.db)
    TRAVEL_JOURNAL  the journal file every side effect appends a line to (default journal.log)
    NOTIFY_URL      the notification service; unset: a stand-in is started on 127.0.0.1
    NOTIFY_TOKEN    its bearer token, a secret sent in the Authorization header
"""

import argparse
import asyncio
import os
from pathlib import Path

from travel import journal
from travel.notifier import Notifier

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

HERE = Path(__file__).resolve().parent


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fail", action="store_true", default=os.environ.get("TRAVEL_FAIL") == "1")
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--trip", default="T-100")
    parser.add_argument("--traveller", default="ann")
    parser.add_argument("--amount", type=float, default=1250.0)
    return parser.parse_args()


async def book(args: argparse.Namespace) -> None:
    store = SQLitePersistenceProvider(os.environ.get("TRAVEL_DB", "travel.db"))
    executor = ThreadPoolExecutor(max_workers=3) if args.threads else SyncExecutor()
    builder = WorkflowBuilder(
        config_dir=HERE / "config", persistence_provider=store, execution_provider=executor
    )
    try:
        trip = await builder.create_workflow(
            "TripBooking",
            {
                "trip_id": args.trip,
                "traveller": args.traveller,
                "amount": args.amount,
                "fail_confirm": args.fail,
            },
        )
        await trip.run()
        print(f"trip {trip.id}: {trip.status.value}")
        if trip.error is not None:
            print(f"  error: {trip.error.type}: {trip.error.message}")
        for record in trip.history:
            child_id = (record.result or {}).get("sub_workflow_id")
            if child_id:
                payment = await builder.load_workflow(child_id)
                print(f"payment {payment.id}: {payment.status.value}")
    finally:
        if isinstance(executor, ThreadPoolExecutor):
            await executor.close()
        await store.close()


def main() -> None:
    args = arguments()
    notifier = None
    if not os.environ.get("NOTIFY_URL"):
        os.environ.setdefault("NOTIFY_TOKEN", "demo-token-4f9a")  # a secret: set it outside
        notifier = Notifier(token=os.environ["NOTIFY_TOKEN"])
        os.environ["NOTIFY_URL"] = notifier.url
    log = Path(journal.path())
    start = log.stat().st_size if log.exists() else 0
    try:
        asyncio.run(book(args))
    finally:
        if notifier is not None:
            notifier.close()
    with log.open(encoding="utf-8") as lines:
        lines.seek(start)
        print(f"journal ({log}):")
        for line in lines:
            print(f"  {line.rstrip()}")


if __name__ == "__main__":
    main()
