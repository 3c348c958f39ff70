"""Invalid definitions fail at load time with a DefinitionError naming file, step, key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from ruvon.builder import WorkflowBuilder
from ruvon.definition import StepType, discover, load_definition_file
from ruvon.definition.step_types import STEP_TYPES
from ruvon.errors import DefinitionError, RuvonError

F = "defs_fixtures.steps"

HEADER = f"""\
workflow_type: Broken
initial_state_model: {F}.OrderState
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``path`` that contains ``needle``."""
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return hits[occurrence - 1]


def load_error(path: Path) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)
    return info.value


def broken(tmp_path: Path, steps: str, header: str = HEADER) -> Path:
    """Write ``header`` plus a ``steps:`` block (``steps`` is dedented, then indented by 2)."""
    body = textwrap.indent(textwrap.dedent(steps), "  ")
    return write(tmp_path, "broken.yaml", f"{header}steps:\n{body}")


def assert_where(
    err: DefinitionError,
    *,
    file: Path | str,
    line: int | None,
    step: str | None = None,
    key: str | None = None,
    detail: str,
    workflow_type: str | None = "Broken",
) -> None:
    assert type(err) is DefinitionError
    assert isinstance(err, RuvonError)
    assert (err.file, err.line, err.step, err.key) == (str(file), line, step, key)
    assert err.workflow_type == workflow_type
    assert err.detail == detail
    where = [f"{file}:{line}" if line else str(file)]
    if workflow_type:
        where.append(f"workflow '{workflow_type}'")
    if step:
        where.append(f"step '{step}'")
    if key:
        where.append(f"key '{key}'")
    assert str(err) == f"{', '.join(where)}: {detail}"


# --- YAML syntax --------------------------------------------------------------------------------


def test_malformed_yaml__names_file_and_line_of_the_problem(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
           retries: 3
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "retries: 3"),
        detail="malformed YAML: mapping values are not allowed here",
        workflow_type=None,
    )
    assert isinstance(err.__cause__, yaml.MarkedYAMLError)


def test_malformed_yaml__unclosed_flow_sequence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "unclosed.yaml",
        f"""\
        workflow_type: Broken
        initial_state_model: {F}.OrderState
        steps: [
          {{name: first, function: {F}.ok_step}}
        description: oops
        """,
    )

    err = load_error(path)

    assert err.file == str(path)
    assert err.line == line_of(path, "description: oops")
    assert err.detail.startswith("malformed YAML: while parsing a flow sequence")
    assert str(err).startswith(f"{path}:{err.line}: malformed YAML")


def test_malformed_yaml__in_a_scanned_config_dir_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", HEADER + f"steps:\n  - name: a\n    function: {F}.ok_step\n")
    bad = write(tmp_path, "zz_bad.yml", "workflow_type: Bad\nsteps:\n\t- name: tab\n")

    with pytest.raises(DefinitionError) as info:
        _ = WorkflowBuilder(config_dir=tmp_path).registry

    assert info.value.file == str(bad)
    assert info.value.line == 3
    assert info.value.detail.startswith("malformed YAML: ")


def test_duplicate_yaml_key__names_the_line_of_the_repeat(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
          function: {F}.undo_step
        """,
    )

    err = load_error(path)

    first = line_of(path, "function:", 1)
    assert_where(
        err,
        file=path,
        line=line_of(path, "function:", 2),
        detail=f"duplicate key 'function' (first on line {first})",
        workflow_type=None,
    )


def test_duplicate_yaml_key__at_top_level(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup_top.yaml",
        HEADER + f"workflow_type: Again\nsteps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert (err.file, err.line, err.key) == (str(path), 3, None)
    assert err.detail == "duplicate key 'workflow_type' (first on line 1)"


@pytest.mark.parametrize(
    "text", ["- a\n- list\n", "just a string\n", "42\n", ""], ids=["list", "str", "int", "empty"]
)
def test_top_level__must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "not_mapping.yaml", text)

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=1,
        detail="a workflow definition must be a YAML mapping",
        workflow_type=None,
    )


def test_top_level__not_a_mapping_via_registry(tmp_path: Path) -> None:
    path = write(tmp_path, "listed.yaml", "- a\n- list\n")

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry={"Listed": str(path)})

    assert (info.value.file, info.value.line) == (str(path), 1)
    assert info.value.detail == "a workflow definition must be a YAML mapping"


# --- unknown keys and types ---------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "extra.yaml",
        HEADER + f"saga: true\nsteps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert_where(
        err, file=path, line=3, key="saga", detail="unknown key (did you mean 'saga_mode'?)"
    )


def test_unknown_step_key__names_key_step_and_line(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
        - name: second
          function: {F}.ok_step
          retries: 3
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "retries: 3"),
        step="second",
        key="retries",
        detail="unknown key",
    )


def test_unknown_retry_policy_key__names_the_nested_key(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: flaky
          function: {F}.ok_step
          retry_policy:
            max_attempt: 3
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "max_attempt:"),
        step="flaky",
        key="retry_policy.max_attempt",
        detail="unknown key (did you mean 'max_attempts'?)",
    )


def test_unknown_step_type__names_the_type_step_and_key(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
        - name: second
          type: TELEPORT
          function: {F}.ok_step
        """,
    )

    err = load_error(path)

    known = ", ".join(t.value for t in StepType)
    assert_where(
        err,
        file=path,
        line=line_of(path, "type: TELEPORT"),
        step="second",
        key="type",
        detail=f"unknown step type 'TELEPORT' (known: {known})",
    )


UNSUPPORTED = [t for t in StepType if t not in STEP_TYPES]


@pytest.mark.parametrize("stype", UNSUPPORTED, ids=[t.value for t in UNSUPPORTED])
def test_valid_but_unsupported_step_type__says_not_supported(
    tmp_path: Path, stype: StepType
) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: later
          type: {stype.value.lower()}
          function: {F}.ok_step
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, f"type: {stype.value.lower()}"),
        step="later",
        key="type",
        detail=f"step type {stype.value} is not supported by this version of Ruvon",
    )


def test_step__must_be_a_mapping(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
        - just_a_name
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "- just_a_name"),
        step="#2",
        detail="each step must be a mapping",
    )


# --- steps: structure ---------------------------------------------------------------------------


def test_standard_step__without_function(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        """\
        - name: lonely
          description: no function here
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "- name: lonely"),
        step="lonely",
        key="function",
        detail="a STANDARD step needs a 'function'",
    )


def test_step__without_name(tmp_path: Path) -> None:
    path = broken(tmp_path, f"- function: {F}.ok_step\n")

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "- function:"),
        step="#1",
        key="name",
        detail="required key is missing",
    )


def test_duplicate_step_names(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: charge
          function: {F}.ok_step
        - name: ship
          function: {F}.ok_step
        - name: charge
          function: {F}.undo_step
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "- name: charge", 2),
        step="charge",
        key="name",
        detail="duplicate step name (also step #1)",
    )


def test_steps__missing_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "no_steps.yaml", HEADER)

    err = load_error(path)

    assert (err.file, err.step, err.key, err.workflow_type) == (str(path), None, "steps", "Broken")


def test_steps__missing_says_required_key_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "no_steps.yaml", HEADER)

    err = load_error(path)

    assert err.detail == "required key is missing"


def test_steps__empty_list(tmp_path: Path) -> None:
    path = write(tmp_path, "empty_steps.yaml", HEADER + "steps: []\n")

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "steps: []"),
        key="steps",
        detail="Tuple should have at least 1 item after validation, not 0",
    )


def test_steps__not_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "map_steps.yaml", HEADER + "steps:\n  first: {function: x.y}\n")

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "steps:"),
        key="steps",
        detail="Input should be a valid tuple",
    )


def test_missing_workflow_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "untyped.yaml",
        f"initial_state_model: {F}.OrderState\nsteps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=1,
        key="workflow_type",
        detail="required key is missing",
        workflow_type=None,
    )


# --- steps: functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "detail"),
    [
        (
            "defs_fixtures.no_such_module.ok_step",
            "can not import module 'defs_fixtures.no_such_module': "
            "No module named 'defs_fixtures.no_such_module'",
        ),
        (
            "no_such_package_xyz.steps.ok_step",
            "can not import module 'no_such_package_xyz.steps': "
            "No module named 'no_such_package_xyz'",
        ),
        (f"{F}.no_such_step", f"module '{F}' has no attribute 'no_such_step'"),
        ("ok_step", "'ok_step' is not a dotted path of the form 'package.module.name'"),
        (f"{F}.NOT_CALLABLE", f"'{F}.NOT_CALLABLE' is not callable"),
        (
            f"{F}.no_params_step",
            f"'{F}.no_params_step' must accept (state, context, **user_input); it takes ()",
        ),
        (
            f"{F}.wrong_params_step",
            f"'{F}.wrong_params_step' must accept (state, context, **user_input); "
            "it takes (order, ctx)",
        ),
    ],
    ids=[
        "module-missing",
        "package-missing",
        "attribute-missing",
        "not-dotted",
        "not-callable",
        "no-params",
        "wrong-param-names",
    ],
)
def test_function__that_does_not_resolve(tmp_path: Path, function: str, detail: str) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: first
          function: {F}.ok_step
        - name: pay
          function: {function}
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, f"function: {function}"),
        step="pay",
        key="function",
        detail=detail,
    )


def test_function__with_an_extra_required_parameter(tmp_path: Path) -> None:
    path = broken(tmp_path, f"- name: pay\n  function: {F}.extra_required_step\n")

    err = load_error(path)

    assert (err.file, err.step, err.key) == (str(path), "pay", "function")
    assert err.line == line_of(path, "function:")
    assert err.detail.startswith(
        f"'{F}.extra_required_step' can not be called with (state, context)"
    )
    assert "amount" in err.detail


def test_function__whose_module_raises_on_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "pylib", "ruvon_test_boom_mod.py", "raise RuntimeError('no settings')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pylib"))
    path = broken(tmp_path, "- name: pay\n  function: ruvon_test_boom_mod.step\n")

    err = load_error(path)

    assert (err.file, err.step, err.key) == (str(path), "pay", "function")
    assert err.detail == "importing module 'ruvon_test_boom_mod' raised RuntimeError: no settings"
    assert isinstance(err.__cause__.__cause__, RuntimeError)  # type: ignore[union-attr]


def test_compensate_function__that_does_not_resolve(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: pay
          function: {F}.ok_step
          compensate_function: {F}.no_params_step
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "compensate_function:"),
        step="pay",
        key="compensate_function",
        detail=f"'{F}.no_params_step' must accept (state, context, **user_input); it takes ()",
    )


def test_timeout_seconds__on_a_sync_function(tmp_path: Path) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: slow
          function: {F}.ok_step
          timeout_seconds: 5
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "timeout_seconds:"),
        step="slow",
        key="timeout_seconds",
        detail="timeout_seconds needs an 'async def' function: a running synchronous function "
        "can not be interrupted",
    )


@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeout_seconds__must_be_positive(tmp_path: Path, value: str) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: slow
          function: {F}.async_step
          timeout_seconds: {value}
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "timeout_seconds:"),
        step="slow",
        key="timeout_seconds",
        detail="Input should be greater than 0",
    )


# --- models -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "detail"),
    [
        (f"{F}.NotAModel", f"'{F}.NotAModel' is not a pydantic BaseModel subclass"),
        (f"{F}.ok_step", f"'{F}.ok_step' is not a pydantic BaseModel subclass"),
        (f"{F}.Missing", f"module '{F}' has no attribute 'Missing'"),
        (
            "defs_fixtures.nowhere.State",
            "can not import module 'defs_fixtures.nowhere': "
            "No module named 'defs_fixtures.nowhere'",
        ),
    ],
    ids=["plain-class", "function", "attribute-missing", "module-missing"],
)
def test_initial_state_model__bad(tmp_path: Path, model: str, detail: str) -> None:
    path = write(
        tmp_path,
        "bad_model.yaml",
        f"workflow_type: Broken\ninitial_state_model: {model}\n"
        f"steps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert_where(err, file=path, line=2, key="initial_state_model", detail=detail)


def test_initial_state_model_path_alias__bad_names_the_alias_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad_alias.yaml",
        f"workflow_type: Broken\ndescription: x\ninitial_state_model_path: {F}.NotAModel\n"
        f"steps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert (err.file, err.step, err.key) == (str(path), None, "initial_state_model_path")
    assert err.detail == f"'{F}.NotAModel' is not a pydantic BaseModel subclass"


def test_initial_state_model_path_alias__bad_reports_the_alias_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad_alias.yaml",
        f"workflow_type: Broken\ndescription: x\ninitial_state_model_path: {F}.NotAModel\n"
        f"steps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert err.line == 3


def test_initial_state_model__missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "no_model.yaml",
        f"workflow_type: Broken\nsteps:\n  - name: a\n    function: {F}.ok_step\n",
    )

    err = load_error(path)

    assert_where(
        err, file=path, line=1, key="initial_state_model", detail="required key is missing"
    )


@pytest.mark.parametrize(
    ("model", "detail"),
    [
        (f"{F}.NotAModel", f"'{F}.NotAModel' is not a pydantic BaseModel subclass"),
        (f"{F}.NoSuchInput", f"module '{F}' has no attribute 'NoSuchInput'"),
        ("ApprovalInput", "'ApprovalInput' is not a dotted path of the form 'package.module.name'"),
    ],
    ids=["not-a-model", "attribute-missing", "not-dotted"],
)
def test_input_model__bad(tmp_path: Path, model: str, detail: str) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: approve
          function: {F}.ok_step
          input_model: {model}
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "input_model:"),
        step="approve",
        key="input_model",
        detail=detail,
    )


# --- retry policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("max_attempts", "0", "Input should be greater than or equal to 1"),
        ("max_attempts", "-3", "Input should be greater than or equal to 1"),
        ("max_attempts", "1001", "Input should be less than or equal to 1000"),
        (
            "max_attempts",
            "many",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("initial_delay", "-1", "Input should be greater than or equal to 0"),
        ("max_delay", "-0.5", "Input should be greater than or equal to 0"),
        ("backoff", "0.5", "Input should be greater than or equal to 1"),
    ],
)
def test_retry_policy__bad_values_name_the_nested_key(
    tmp_path: Path, field: str, value: str, detail: str
) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: flaky
          function: {F}.ok_step
          retry_policy:
            {field}: {value}
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, f"{field}: {value}"),
        step="flaky",
        key=f"retry_policy.{field}",
        detail=detail,
    )


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        (f"{F}.OrderState", f"'{F}.OrderState' is not an exception class"),
        (f"{F}.ok_step", f"'{F}.ok_step' is not an exception class"),
        (f"{F}.NoSuchError", f"module '{F}' has no attribute 'NoSuchError'"),
        (
            "defs_fixtures.gone.Error",
            "can not import module 'defs_fixtures.gone': No module named 'defs_fixtures.gone'",
        ),
    ],
    ids=["model-class", "function", "attribute-missing", "module-missing"],
)
def test_retry_on__dotted_path_that_is_not_an_exception(
    tmp_path: Path, entry: str, detail: str
) -> None:
    path = broken(
        tmp_path,
        f"""\
        - name: flaky
          function: {F}.ok_step
          retry_policy:
            max_attempts: 3
            retry_on: [ValueError, {entry}]
        """,
    )

    err = load_error(path)

    assert_where(
        err,
        file=path,
        line=line_of(path, "retry_on:"),
        step="flaky",
        key="retry_policy.retry_on",
        detail=detail,
    )


# --- discovery: conflicts and registry mistakes -------------------------------------------------


def one_step(workflow_type: str, version: str) -> str:
    return (
        f"workflow_type: {workflow_type}\nworkflow_version: {version}\n"
        f"initial_state_model: {F}.OrderState\nsteps:\n  - name: a\n    function: {F}.ok_step\n"
    )


def test_same_type_and_version_in_two_files__names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a_payment.yaml", one_step("Payment", "1"))
    write(tmp_path, "b_payment_v2.yaml", one_step("Payment", "2"))
    second = write(tmp_path, "c_payment_copy.yml", one_step("Payment", '"1"'))

    with pytest.raises(DefinitionError) as info:
        discover(config_dir=tmp_path)

    assert_where(
        info.value,
        file=second,
        line=None,
        detail=f"workflow type 'Payment' version '1' is defined twice: in {first} and in {second}",
        workflow_type=None,
    )


def test_same_type_and_version_via_registry__names_both_sources(tmp_path: Path) -> None:
    on_disk = write(tmp_path, "payment.yaml", one_step("Payment", "1"))
    registry = {
        "workflows": [
            {"type": "Payment", "config_file": str(on_disk)},
            {"type": "Payment", "config_file": str(on_disk)},
        ]
    }

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=registry)

    assert info.value.file == str(on_disk)
    assert info.value.detail == (
        f"workflow type 'Payment' version '1' is defined twice: in {on_disk} and in {on_disk}"
    )


def test_registry_entry_type_must_match_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "defs", "refund.yaml", one_step("Refund", "1"))
    write(
        tmp_path,
        "workflow_registry.yaml",
        """\
        workflows:
          - type: Payment
            config_file: defs/refund.yaml
        """,
    )

    with pytest.raises(DefinitionError) as info:
        _ = WorkflowBuilder(config_dir=tmp_path).registry

    err = info.value
    assert (err.file, err.key, err.step) == (str(path), "workflow_type", None)
    assert err.detail == "registry says 'Payment' but the file defines 'Refund'"


def test_registry_dict_key_must_match_the_inline_definition() -> None:
    inline = {
        "workflow_type": "Refund",
        "initial_state_model": f"{F}.OrderState",
        "steps": [{"name": "a", "function": f"{F}.ok_step"}],
    }

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry={"Payment": inline})

    assert (info.value.file, info.value.key) == ("workflow_registry[Payment]", "workflow_type")
    assert info.value.detail == "registry says 'Payment' but the file defines 'Refund'"


def test_registry_inline_definition_error_names_the_entry() -> None:
    inline = {
        "workflow_type": "Payment",
        "initial_state_model": f"{F}.OrderState",
        "steps": [{"name": "a", "function": f"{F}.ok_step", "retries": 3}],
    }

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry={"Payment": inline})

    assert_where(
        info.value,
        file="workflow_registry[Payment]",
        line=None,
        step="a",
        key="retries",
        detail="unknown key",
        workflow_type="Payment",
    )


@pytest.mark.parametrize(
    ("registry_text", "key", "detail"),
    [
        ("workflows: just-a-string\n", "workflows", "'workflows' must be a list"),
        ("workflows:\n  - a.yaml\n", "workflows.0", "each entry must be a mapping"),
        ("workflows:\n  - type: A\n", "workflows.0.config_file", "entry needs 'config_file'"),
        ("A: 5\n", "A", "entry must be a file path or a definition mapping"),
    ],
    ids=["workflows-not-list", "entry-not-mapping", "entry-without-file", "target-not-path"],
)
def test_registry_file__malformed_entries(
    tmp_path: Path, registry_text: str, key: str, detail: str
) -> None:
    registry_file = write(tmp_path, "reg.yaml", registry_text)

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=registry_file)

    err = info.value
    assert (err.file, err.key, err.step) == (str(registry_file), key, None)
    assert err.detail == detail


def test_registry_file__must_be_a_mapping(tmp_path: Path) -> None:
    registry_file = write(tmp_path, "reg.yaml", "- a.yaml\n")

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=registry_file)

    assert info.value.file == str(registry_file)
    assert info.value.detail == "a workflow registry must be a YAML mapping"


def test_registry_file__missing_definition_file(tmp_path: Path) -> None:
    registry_file = write(tmp_path, "reg.yaml", "workflows:\n  - config_file: gone.yaml\n")

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=registry_file)

    assert (info.value.file, info.value.key) == (str(registry_file), "workflows.0.config_file")
    assert info.value.detail.startswith(
        f"config_file 'gone.yaml' not found (looked for '{tmp_path / 'gone.yaml'}'"
    )


def test_registry_file__itself_missing(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=tmp_path / "nope.yaml")

    assert info.value.file == str(tmp_path / "nope.yaml")
    assert info.value.detail == "can not read file: No such file or directory"


NOT_UTF8 = "the file is not UTF-8 text: byte 0xe9 can not be read (save the file as UTF-8)"


def test_a_file_that_is_not_utf8__names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"workflow_type: Latin\n# caf\xe9 (Latin-1)\nsteps: []\n")

    with pytest.raises(DefinitionError) as info:
        load_definition_file(path)

    assert (info.value.file, info.value.line, info.value.detail) == (str(path), 2, NOT_UTF8)
    assert str(info.value) == f"{path}:2: {NOT_UTF8}"


def test_a_file_that_is_not_utf8__in_config_dir_and_as_a_registry_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"# caf\xe9\nworkflow_type: Latin\nsteps: []\n")

    with pytest.raises(DefinitionError) as scanned:
        discover(tmp_path)
    with pytest.raises(DefinitionError) as registry:
        discover(workflow_registry=latin)

    for info in (scanned, registry):
        assert (info.value.file, info.value.line, info.value.detail) == (str(latin), 1, NOT_UTF8)


def test_builder__reports_definition_errors_on_first_registry_use(tmp_path: Path) -> None:
    path = broken(tmp_path, "- name: lonely\n")
    builder = WorkflowBuilder(config_dir=tmp_path)  # nothing is read yet

    with pytest.raises(DefinitionError) as info:
        builder.get_definition("Broken")

    assert (info.value.file, info.value.step, info.value.key) == (str(path), "lonely", "function")
