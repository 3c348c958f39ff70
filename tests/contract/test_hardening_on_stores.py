"""Regression tests of the engine fixes of issue 8 that depend on the store (items 1, 7, 9, 17/18).

Every test runs on the in-memory store, SQLite and PostgreSQL, and each failed on the engine
before the fixes (commit 61f6d5a). The property-based test of item 1 draws at most
``RUVON_HARDENING_EXAMPLES`` (default 30) states per store; set it higher to search longer.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hardening_steps as hs
from hardening_steps import defn, step
from ruvon import errors
from ruvon.builder import WorkflowBuilder
from ruvon.errors import PersistenceError
from ruvon.models import StepStatus, WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider, Transition
from ruvon.workflow import Workflow

S = WorkflowStatus
POSTGRES_ONLY = pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)
EXAMPLES = int(os.environ.get("RUVON_HARDENING_EXAMPLES", "30"))


def _builder(store: Any, *steps: dict[str, Any], model: str = "hardening_steps.Box") -> Any:
    registry = {"T": defn(*steps, model=model), "U": defn(*steps, model=model, wf_type="U")}
    return WorkflowBuilder(workflow_registry=registry, persistence_provider=store)


def _is_json_data(value: Any) -> bool:
    """Only what ``json.loads`` gives back: dicts with str keys, lists, str, numbers, bool, None."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_is_json_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_data(v) for k, v in value.items())
    return False


async def _history(store: PersistenceProvider, wid: str) -> list[tuple[Any, ...]]:
    return [
        (h.seq, h.step_name, h.attempt, h.status, h.result) for h in await store.step_history(wid)
    ]


def _mine(wf: Workflow) -> list[tuple[Any, ...]]:
    return [(h.seq, h.step_name, h.attempt, h.status, h.result) for h in wf.history]


# --- item 1: every value the state model accepts round-trips through every store -------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_decimals = st.decimals(allow_nan=False, allow_infinity=False)
_offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_inner = st.builds(hs.Inner, label=_text, tags=st.sets(_text, max_size=3), amount=_decimals)
_big = st.integers(min_value=-(2**200), max_value=2**200)

#: one strategy per field of ``Rich``; a drawn payload sets a random subset of them
RICH_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "inner": st.none() | _inner,
    "inners": st.lists(_inner, max_size=3),
    "tags": st.sets(_big, max_size=4),
    "names": st.frozensets(_text, max_size=4),
    "amount": _decimals,
    "by_name": st.dictionaries(_text, _decimals, max_size=3),
    "ratio": st.floats(allow_nan=False, allow_infinity=False),
    "naive": st.none() | st.datetimes(),
    "aware": st.none() | st.datetimes(timezones=st.just(UTC) | _offsets),
    "day": st.none() | st.dates(),
    "uid": st.none() | st.uuids(),
    "color": st.none() | st.sampled_from(hs.Color),
    "level": st.none() | st.sampled_from(hs.Level),
    "blob": st.binary(max_size=24),
    "either": _big | _text,
    "choice": st.none() | _inner | st.lists(_big, max_size=3),
    "maybe": st.none() | _text,
    "big": _big,
    "text": _text,
    "pair": st.tuples(_big, _text),
}
_payloads = st.fixed_dictionaries({}, optional=RICH_FIELDS)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=_payloads)
async def test_every_value_the_state_model_accepts__round_trips_through_the_store(
    store: PersistenceProvider, payload: dict[str, Any]
) -> None:
    assert set(RICH_FIELDS) == set(hs.Rich.model_fields)  # every field is drawn
    b = _builder(store, step("Emit", "emit"), step("After", "touch"), model="hardening_steps.Rich")
    hs.PAYLOAD.clear()
    hs.PAYLOAD.update(payload)
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED, wf.error

    expected = hs.Rich.model_validate(payload)  # what the model makes of the values
    assert wf.state == expected
    loaded = await b.load_workflow(wf.id)
    assert loaded.state == wf.state

    history = await store.step_history(wf.id)
    recorded = history[0].result
    assert history[0].step_name == "Emit" and recorded is not None
    assert _is_json_data(recorded) and set(recorded) == set(payload)
    # the recorded result is the JSON form of the values: the model reads them back
    again = hs.Rich.model_validate_json(json.dumps(recorded))
    assert {k: getattr(again, k) for k in payload} == {k: getattr(expected, k) for k in payload}
    assert loaded.last_result == {}
    row = await store.load_workflow(wf.id)
    assert (row.lease_owner, row.lease_expires_at) == (None, None)


@pytest.mark.parametrize("fn", ["returns_bad_bytes", "sets_bad_bytes_in_place"])
async def test_bytes_the_json_form_can_not_hold__fail_the_step_cleanly(
    store: PersistenceProvider, fn: str
) -> None:
    b = _builder(store, step("Ok", "count_up"), step("Bytes", fn), model="hardening_steps.Plain")
    wf = await b.create_workflow("T", {"blob": b"fine"})
    await wf.next_step()

    assert wf.status is S.FAILED
    assert wf.error is not None and wf.error.step == "Bytes"
    assert "Bytes" in wf.error.message
    assert (wf.state.blob, wf.state.n) == (b"fine", 1)  # the step's changes are dropped
    row = await store.load_workflow(wf.id)
    assert (row.status, row.current_step, row.lease_owner, row.lease_expires_at) == (
        S.FAILED,
        1,
        None,
        None,
    )
    assert hs.Plain.model_validate_json(row.state) == hs.Plain(blob=b"fine", n=1)
    assert [(h[1], h[3], h[4]) for h in await _history(store, wf.id)] == [
        ("Ok", StepStatus.COMPLETED, {"n": 1}),
        ("Bytes", StepStatus.FAILED, None),
    ]
    loaded = await b.load_workflow(wf.id)
    assert loaded.status is S.FAILED and loaded.state == wf.state


async def _round_trips_or_fails_cleanly(
    store: PersistenceProvider, payload: dict[str, Any]
) -> None:
    """A step returns ``payload``: the workflow completes with exactly those values in its
    state, live and reloaded, or the step fails cleanly (nothing written, lease released)."""
    b = _builder(store, step("Emit", "emit"), model="hardening_steps.Rich")
    hs.PAYLOAD.clear()
    hs.PAYLOAD.update(payload)
    wf = await b.create_workflow("T")
    await wf.next_step()  # must not raise
    row = await store.load_workflow(wf.id)
    assert (row.status, row.lease_owner) == (wf.status, None)
    loaded = await b.load_workflow(wf.id)
    if wf.status is S.COMPLETED:
        values = {k: getattr(wf.state, k) for k in payload}
        assert (values, loaded.state) == (payload, wf.state)
    else:
        assert wf.status is S.FAILED and wf.error is not None and wf.error.step == "Emit"
        assert loaded.state == hs.Rich()
        assert [(h[1], h[3]) for h in await _history(store, wf.id)] == [("Emit", StepStatus.FAILED)]


@pytest.mark.parametrize("_any_store_spec", [POSTGRES_ONLY], indirect=True)
async def test_nul_character_in_a_string__round_trips_or_fails_the_step_on_postgres(
    store: PersistenceProvider,
) -> None:
    await _round_trips_or_fails_cleanly(store, {"text": "a\x00b"})


async def test_datetime_with_a_sub_minute_utc_offset__round_trips_or_fails_the_step(
    store: PersistenceProvider,
) -> None:
    amsterdam_1900 = datetime(1900, 6, 1, 12, tzinfo=ZoneInfo("Europe/Amsterdam"))
    await _round_trips_or_fails_cleanly(store, {"aware": amsterdam_1900})


# --- item 7: an idempotency key belongs to one workflow type ---------------------------------


async def test_idempotency_key__returns_the_same_type_and_refuses_another(
    store: PersistenceProvider,
) -> None:
    b = _builder(store, step("A", "count_up"))
    wf = await b.create_workflow("T", {"note": "first"}, idempotency_key="order-42")
    again = await b.create_workflow("T", {"note": "second"}, idempotency_key="order-42")
    assert again.id == wf.id and again.state.note == "first"

    with pytest.raises(ValueError, match="order-42") as info:
        await b.create_workflow("U", {"note": "other"}, idempotency_key="order-42")
    assert isinstance(info.value, errors.IdempotencyConflictError)
    assert wf.id in str(info.value)
    assert (info.value.idempotency_key, info.value.workflow_id) == ("order-42", wf.id)
    assert [r.id for r in await store.list_workflows()] == [wf.id]  # nothing written


# --- item 9: stored results are not shared with user code ------------------------------------


async def test_step_history__is_not_changed_by_user_code_mutating_results(
    store: PersistenceProvider,
) -> None:
    hs.RETURNED.clear()
    b = _builder(store, step("A", "returns_kept_dict"), step("B", "mutates_previous_result"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED, wf.error

    expected = [
        (0, "A", 1, StepStatus.COMPLETED, {"tags": ["kept"], "n": 1}),
        (1, "B", 1, StepStatus.COMPLETED, {"note": "mutated"}),
    ]
    assert await _history(store, wf.id) == expected
    assert _mine(wf) == expected
    assert (wf.state.tags, wf.state.n) == (["kept"], 1)
    loaded = await b.load_workflow(wf.id)
    assert (loaded.state.tags, loaded.state.n) == (["kept"], 1)


# --- items 17/18: a failed commit leaves the object as the store has it ----------------------


class _FailLastCommitOnce:
    """Delegates to a store, but the first commit that completes the workflow fails."""

    def __init__(self, inner: PersistenceProvider) -> None:
        self._inner = inner
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def commit(self, transition: Transition) -> str | None:
        if transition.status is S.COMPLETED and not self.failed:
            self.failed += 1
            raise PersistenceError(f"injected: commit of workflow '{transition.workflow_id}'")
        return await self._inner.commit(transition)


async def test_failed_commit__leaves_the_object_as_the_store_has_it_and_run_completes(
    store: PersistenceProvider,
) -> None:
    flaky = _FailLastCommitOnce(store)
    b = _builder(flaky, step("A", "plain"), step("B", "plain"), step("C", "plain"))
    wf = await b.create_workflow("T")
    with pytest.raises(PersistenceError, match="injected"):
        await wf.run()
    assert flaky.failed == 1

    row = await store.load_workflow(wf.id)
    assert (wf.status, wf.current_step, wf.version) == (row.status, row.current_step, row.version)
    assert (wf.status, wf.current_step_name) == (S.ACTIVE, "C")
    assert wf.state == hs.Box.model_validate_json(row.state)
    assert wf.state.items == ["A", "B"]
    assert _mine(wf) == await _history(store, wf.id)

    assert await wf.run() is S.COMPLETED
    assert wf.state.items == ["A", "B", "C"]
    assert [hs.CALLS[(wf.id, name)] for name in "ABC"] == [1, 1, 2]
    loaded = await b.load_workflow(wf.id)
    assert (loaded.status, loaded.state) == (S.COMPLETED, wf.state)
    assert [(h[1], h[3]) for h in await _history(store, wf.id)] == [
        ("A", StepStatus.COMPLETED),
        ("B", StepStatus.COMPLETED),
        ("C", StepStatus.COMPLETED),
    ]
    assert _mine(wf) == await _history(store, wf.id)
