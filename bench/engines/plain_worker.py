"""The floor without a store: the same saga as a plain Python function, main venv.

    .venv/bin/python bench/engines/plain_worker.py --store memory --variant rollback --runs 1000

Same step bodies, same Pydantic state (``workloads.payment``), the results merged into the
state as the engines do, the compensations of the completed steps run most recent first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from workloads.payment import steps_noprint as steps
from workloads.payment.models import PaymentState

PAIRS = [
    (steps.create_order, steps.cancel_order),
    (steps.charge_payment, steps.refund_payment),
    (steps.reserve_inventory, steps.release_inventory),
    (steps.create_shipment, steps.cancel_shipment),
]


def plain_saga() -> PaymentState:
    state = PaymentState(**harness.INITIAL)
    undo = []
    try:
        for forward, compensate in PAIRS:
            for key, value in forward(state, None).items():
                setattr(state, key, value)
            undo.append(compensate)
    except Exception:
        for compensate in reversed(undo):
            for key, value in compensate(state, None).items():
                setattr(state, key, value)
    return state


def main() -> None:
    args = harness.parse_args(__doc__ or "")
    failing = harness.set_variant(args.variant) == "rollback"

    def one() -> None:
        state = plain_saga()
        assert state.shipment_created != failing, state

    one()  # warm-up
    elapsed, latencies = harness.drive_threads(one, args.runs, 1)
    harness.emit(args.runs, elapsed, latencies, 0.0)


if __name__ == "__main__":
    main()
