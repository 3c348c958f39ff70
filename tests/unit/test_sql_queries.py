"""Rendering the one copy of each SQL query for both drivers."""

from __future__ import annotations

from ruvon.implementations.persistence.postgres import POSTGRES
from ruvon.implementations.persistence.sql import queries
from ruvon.implementations.persistence.sqlite import SQLITE


def test_each_name_gets_one_number_in_first_use_order() -> None:
    for dialect, marker in ((SQLITE, "?"), (POSTGRES, "$")):
        q = queries.queries(dialect)["claim_workflow"]
        assert q.params == ("owner", "expires_at", "id", "expected_version", "now")
        assert ":owner" not in q.sql
        # ``owner`` is used twice and bound once
        assert q.sql.count(f"{marker}1") == 2
        assert f"{marker}5" in q.sql and f"{marker}6" not in q.sql


def test_args_orders_values_by_parameter_and_ignores_extras() -> None:
    q = queries.queries(SQLITE)["renew_lease"]
    values = {"id": "wf-1", "owner": "me", "expires_at": 2.0, "unused": object()}
    assert q.args(values) == [values[p] for p in q.params]
    assert set(q.params) == {"id", "owner", "expires_at"}


def test_no_named_parameter_is_left_in_any_query() -> None:
    for dialect in (SQLITE, POSTGRES):
        for q in queries.queries(dialect).values():
            assert queries._PARAM.search(q.sql) is None, (dialect.name, q.name)


def test_a_transition_statement_holds_only_the_parts_it_needs() -> None:
    tail = "SELECT count(*) AS changed FROM moved"
    step = queries.with_parts(POSTGRES, "pg_transition_", ("moved", "steps"), tail)
    assert step.sql.startswith("WITH moved AS (\nUPDATE ruvon_workflows")
    assert "steps AS (\nINSERT INTO ruvon_step_attempts" in step.sql
    assert "ruvon_compensations" not in step.sql and "ruvon_audit" not in step.sql
    assert step.sql.endswith(tail)
    assert "steps" in step.params and "metrics" not in step.params
    # composed once per shape, parameters numbered over the whole statement
    assert queries.with_parts(POSTGRES, "pg_transition_", ("moved", "steps"), tail) is step
    full = queries.with_parts(
        POSTGRES, "pg_transition_", ("moved", "steps", "compensations", "audit", "metrics"), tail
    )
    assert len(full.params) == len(set(full.params))
    assert f"${len(full.params)}" in full.sql and f"${len(full.params) + 1}" not in full.sql
    assert queries._PARAM.search(full.sql) is None


def test_comment_lines_stay_in_the_file() -> None:
    q = queries.queries(SQLITE)["update_workflow_keep_status"]
    assert q.sql.startswith("UPDATE ruvon_workflows")
    assert "--" not in q.sql and "status =" not in q.sql
