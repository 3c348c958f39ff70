"""Finding, parsing and compiling workflow definitions (SPEC §1 discovery, §2 definition YAML)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
from defs_fixtures import steps as fx
from pydantic import ValidationError

from ruvon.builder import WorkflowBuilder
from ruvon.definition import (
    RetryPolicy,
    StepType,
    WorkflowDefinition,
    discover,
    load_definition_file,
)
from ruvon.errors import DefinitionError, UnknownWorkflowTypeError

F = "defs_fixtures.steps"


def minimal_yaml(workflow_type: str, version: str | None = None) -> str:
    """A valid one-step definition; ``version`` is written quoted when given."""
    lines = [f"workflow_type: {workflow_type}"]
    if version is not None:
        lines.append(f'workflow_version: "{version}"')
    lines += [
        f"initial_state_model: {F}.OrderState",
        "steps:",
        "  - name: only_step",
        f"    function: {F}.ok_step",
    ]
    return "\n".join(lines) + "\n"


def minimal_dict(workflow_type: str, version: str = "1") -> dict[str, Any]:
    return {
        "workflow_type": workflow_type,
        "workflow_version": version,
        "initial_state_model": f"{F}.OrderState",
        "steps": [{"name": "only_step", "function": f"{F}.ok_step"}],
    }


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_one(tmp_path: Path, text: str) -> WorkflowDefinition:
    return load_definition_file(write(tmp_path, "workflow.yaml", text))


def versions_of(definitions: Any) -> set[tuple[str, str]]:
    return {(d.workflow_type, d.workflow_version) for d in definitions}


# --- discovery: config_dir scan ---------------------------------------------------------------


def test_discover__scans_yaml_and_yml_files_in_config_dir(tmp_path: Path) -> None:
    a = write(tmp_path, "alpha.yaml", minimal_yaml("Alpha"))
    b = write(tmp_path, "beta.yml", minimal_yaml("Beta"))

    registry = discover(config_dir=tmp_path)

    assert registry.types() == ["Alpha", "Beta"]
    assert registry.get("Alpha").source == str(a)
    assert registry.get("Beta").source == str(b)


def test_discover__ignores_yaml_files_without_workflow_type(tmp_path: Path) -> None:
    write(tmp_path, "flow.yaml", minimal_yaml("Flow"))
    write(tmp_path, "settings.yaml", "log_level: DEBUG\nsteps: not-a-workflow\n")
    write(tmp_path, "list.yml", "- just\n- a list\n")
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "readme.txt", "workflow_type: NotYaml\n")

    registry = discover(config_dir=tmp_path)

    assert registry.types() == ["Flow"]
    assert [d.workflow_type for d in registry] == ["Flow"]


def test_discover__registry_file_in_config_dir_takes_precedence_over_scanning(
    tmp_path: Path,
) -> None:
    listed = write(tmp_path / "defs", "listed.yaml", minimal_yaml("Listed"))
    write(tmp_path, "unlisted.yaml", minimal_yaml("Unlisted"))
    # never read: if the directory were scanned this file would raise
    write(tmp_path, "broken.yaml", "workflow_type: [unclosed\n")
    write(
        tmp_path,
        "workflow_registry.yaml",
        """\
        workflows:
          - type: Listed
            config_file: defs/listed.yaml
        """,
    )

    registry = discover(config_dir=tmp_path)

    assert registry.types() == ["Listed"]
    assert registry.get("Listed").source == str(listed)


def test_discover__explicit_missing_config_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="config_dir is not a directory"):
        discover(config_dir=tmp_path / "does-not-exist")


def test_discover__default_config_dir_may_be_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert discover().types() == []


# --- discovery: explicit registry ---------------------------------------------------------------


def test_registry_dict__workflows_list_form(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", minimal_yaml("A"))
    b = write(tmp_path, "b.yaml", minimal_yaml("B"))
    registry = {
        "workflows": [
            {"type": "A", "config_file": str(a)},
            {"config_file": str(b)},  # type is optional
        ]
    }

    builder = WorkflowBuilder(workflow_registry=registry)

    assert builder.registry.types() == ["A", "B"]
    assert builder.get_definition("A").source == str(a)
    assert builder.get_definition("B").source == str(b)


def test_registry_dict__type_to_path_form(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", minimal_yaml("A"))

    builder = WorkflowBuilder(workflow_registry={"A": str(a)})

    assert builder.registry.types() == ["A"]
    assert builder.get_definition("A").source == str(a)


def test_registry_dict__type_to_inline_definition_form() -> None:
    builder = WorkflowBuilder(workflow_registry={"Inline": minimal_dict("Inline", "3")})

    definition = builder.get_definition("Inline")

    assert definition.workflow_version == "3"
    assert definition.source == "workflow_registry[Inline]"
    assert definition.state_model is fx.OrderState
    assert definition.steps[0].function is fx.ok_step
    assert definition.snapshot == minimal_dict("Inline", "3")


def test_registry_dict__relative_paths_resolve_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "defs", "a.yaml", minimal_yaml("A"))
    monkeypatch.chdir(tmp_path)

    registry = discover(workflow_registry={"workflows": [{"config_file": "defs/a.yaml"}]})

    assert registry.get("A").workflow_type == "A"


@pytest.mark.parametrize("as_text", [True, False], ids=["str", "Path"])
def test_registry_file__config_files_resolve_relative_to_the_registry_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_text: bool
) -> None:
    reg_dir = tmp_path / "registry"
    a = write(reg_dir / "defs", "a.yaml", minimal_yaml("A"))
    b = write(reg_dir, "b.yml", minimal_yaml("B"))
    registry_file = write(
        reg_dir,
        "my_registry.yaml",
        """\
        workflows:
          - type: A
            config_file: defs/a.yaml
          - type: B
            config_file: b.yml
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    builder = WorkflowBuilder(workflow_registry=str(registry_file) if as_text else registry_file)

    assert builder.registry.types() == ["A", "B"]
    assert builder.get_definition("A").source == str(a)
    assert builder.get_definition("B").source == str(b)


def test_registry_file__type_to_path_mapping_form(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", minimal_yaml("A"))
    registry_file = write(tmp_path, "reg.yaml", "A: a.yaml\n")

    registry = discover(workflow_registry=registry_file)

    assert registry.types() == ["A"]


def test_discover__explicit_registry_wins_over_config_dir(tmp_path: Path) -> None:
    write(tmp_path / "config", "scanned.yaml", minimal_yaml("Scanned"))
    listed = write(tmp_path / "other", "listed.yaml", minimal_yaml("Listed"))

    builder = WorkflowBuilder(
        config_dir=tmp_path / "config", workflow_registry={"Listed": str(listed)}
    )

    assert builder.registry.types() == ["Listed"]


# --- discovery: default locations ---------------------------------------------------------------


def test_builder__uses_ruvon_config_dir_env_when_no_config_dir_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir = tmp_path / "from_env"
    write(env_dir, "env.yaml", minimal_yaml("FromEnv"))
    write(tmp_path / "config", "cwd.yaml", minimal_yaml("FromCwd"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUVON_CONFIG_DIR", str(env_dir))

    builder = WorkflowBuilder()

    assert builder.registry.types() == ["FromEnv"]


def test_builder__explicit_config_dir_wins_over_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "from_env", "env.yaml", minimal_yaml("FromEnv"))
    write(tmp_path / "explicit", "explicit.yaml", minimal_yaml("Explicit"))
    monkeypatch.setenv("RUVON_CONFIG_DIR", str(tmp_path / "from_env"))

    builder = WorkflowBuilder(config_dir=tmp_path / "explicit")

    assert builder.registry.types() == ["Explicit"]


def test_builder__defaults_to_config_dir_under_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "config", "default.yml", minimal_yaml("Default"))
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    builder = WorkflowBuilder()

    assert builder.registry.types() == ["Default"]
    assert builder.get_definition("Default").source == str(Path("config") / "default.yml")


def test_builder__default_config_dir_registry_file_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "config" / "flows", "a.yaml", minimal_yaml("ViaRegistry"))
    write(tmp_path / "config", "scanned.yaml", minimal_yaml("Scanned"))
    write(tmp_path / "config", "workflow_registry.yaml", "ViaRegistry: flows/a.yaml\n")
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    assert WorkflowBuilder().registry.types() == ["ViaRegistry"]


def test_builder__discovers_once_on_first_use(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", minimal_yaml("A"))
    builder = WorkflowBuilder(config_dir=tmp_path)

    first = builder.registry
    write(tmp_path, "b.yaml", minimal_yaml("B"))

    assert builder.registry is first
    assert builder.registry.types() == ["A"]


# --- the definition language --------------------------------------------------------------------


def test_aliases__initial_state_model_path_and_saga_enabled(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Aliased
        initial_state_model_path: {F}.OrderState
        saga_enabled: true
        steps:
          - name: only_step
            function: {F}.ok_step
        """,
    )

    assert definition.spec.initial_state_model == f"{F}.OrderState"
    assert definition.state_model is fx.OrderState
    assert definition.spec.saga_mode is True


def test_canonical_names__initial_state_model_and_saga_mode(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Canonical
        description: A canonical definition
        initial_state_model: {F}.OrderState
        saga_mode: false
        steps:
          - name: only_step
            function: {F}.ok_step
        """,
    )

    assert definition.spec.saga_mode is False
    assert definition.spec.description == "A canonical definition"
    assert definition.state_model is fx.OrderState


@pytest.mark.parametrize("spelling", ["standard", "Standard", "STANDARD", "sTaNdArD"])
def test_step_type__matches_case_insensitively(tmp_path: Path, spelling: str) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Cased
        initial_state_model: {F}.OrderState
        steps:
          - name: only_step
            type: {spelling}
            function: {F}.ok_step
        """,
    )

    assert definition.steps[0].spec.type is StepType.STANDARD


def test_step__defaults_to_standard_and_documented_defaults(tmp_path: Path) -> None:
    definition = load_one(tmp_path, minimal_yaml("Defaults"))

    step = definition.steps[0]
    assert step.spec.type is StepType.STANDARD
    assert step.spec.automate_next is False
    assert step.spec.compensate_function is None
    assert step.spec.timeout_seconds is None
    assert step.spec.retry_policy == RetryPolicy()
    assert step.spec.retry_policy.max_attempts == 1
    assert step.retry_on == ()
    assert definition.workflow_version == "1"
    assert definition.spec.saga_mode is False


def test_compile__resolves_functions_models_and_order(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Resolved
        initial_state_model: {F}.OrderState
        steps:
          - name: first
            function: {F}.ok_step
            compensate_function: {F}.undo_step
            automate_next: true
          - name: second
            function: {F}.ok_step
            input_model: {F}.ApprovalInput
        """,
    )

    first, second = definition.steps
    assert (first.index, first.name, second.index, second.name) == (0, "first", 1, "second")
    assert first.function is fx.ok_step
    assert first.compensate is fx.undo_step
    assert first.spec.automate_next is True
    assert first.input_model is None
    assert second.compensate is None
    assert second.input_model is fx.ApprovalInput
    assert definition.index_by_name == {"first": 0, "second": 1}


def test_compile__snapshot_is_the_loaded_yaml_data(tmp_path: Path) -> None:
    definition = load_one(tmp_path, minimal_yaml("Snap", "7"))

    assert definition.snapshot == {
        "workflow_type": "Snap",
        "workflow_version": "7",
        "initial_state_model": f"{F}.OrderState",
        "steps": [{"name": "only_step", "function": f"{F}.ok_step"}],
    }


def test_async_def_step__is_detected(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Mixed
        initial_state_model: {F}.OrderState
        steps:
          - name: sync_one
            function: {F}.ok_step
            compensate_function: {F}.async_undo
          - name: async_one
            function: {F}.async_step
            compensate_function: {F}.undo_step
            timeout_seconds: 2.5
        """,
    )

    sync_one, async_one = definition.steps
    assert sync_one.is_async is False
    assert sync_one.compensate_is_async is True
    assert async_one.is_async is True
    assert async_one.compensate_is_async is False
    assert async_one.spec.timeout_seconds == 2.5


# --- versions and lookup ------------------------------------------------------------------------


@pytest.fixture
def three_versions(tmp_path: Path) -> WorkflowBuilder:
    write(tmp_path, "v1.yaml", minimal_yaml("Payment", "1"))
    write(tmp_path, "v2.yml", minimal_yaml("Payment", "2"))
    write(tmp_path, "v10.yaml", minimal_yaml("Payment", "10"))
    write(tmp_path, "other.yaml", minimal_yaml("Refund"))
    return WorkflowBuilder(config_dir=tmp_path)


def test_versions__latest_is_picked_by_default(three_versions: WorkflowBuilder) -> None:
    # numeric, not lexical, ordering: "10" > "2"
    assert three_versions.get_definition("Payment").workflow_version == "10"
    assert versions_of(three_versions.registry) == {
        ("Payment", "1"),
        ("Payment", "2"),
        ("Payment", "10"),
        ("Refund", "1"),
    }


@pytest.mark.parametrize(
    ("version", "file_name"), [("1", "v1.yaml"), ("2", "v2.yml"), ("10", "v10.yaml")]
)
def test_versions__explicit_version_is_picked(
    three_versions: WorkflowBuilder, version: str, file_name: str
) -> None:
    definition = three_versions.get_definition("Payment", version)

    assert definition.workflow_version == version
    assert Path(definition.source).name == file_name


def test_versions__dotted_versions_order_numerically(tmp_path: Path) -> None:
    for version in ("1.2.0", "1.10.0", "1.9.3"):
        write(tmp_path, f"v{version}.yaml", minimal_yaml("Dotted", version))

    assert discover(config_dir=tmp_path).get("Dotted").workflow_version == "1.10.0"


def test_versions__unquoted_integer_version_becomes_text(tmp_path: Path) -> None:
    text = minimal_yaml("IntVersion").replace(
        "workflow_type: IntVersion\n", "workflow_type: IntVersion\nworkflow_version: 2\n"
    )
    definition = load_one(tmp_path, text)

    assert definition.workflow_version == "2"


def test_versions__unquoted_dotted_version_is_refused_with_a_hint(tmp_path: Path) -> None:
    """YAML reads 1.10 as the float 1.1: the text is lost, so the loader asks for quotes."""
    text = minimal_yaml("FloatVersion").replace(
        "workflow_type: FloatVersion\n", "workflow_type: FloatVersion\nworkflow_version: 1.10\n"
    )
    with pytest.raises(DefinitionError, match="quoted string") as info:
        load_one(tmp_path, text)
    assert info.value.key == "workflow_version"


def test_versions__unknown_version_raises_listing_known_versions(
    three_versions: WorkflowBuilder,
) -> None:
    with pytest.raises(UnknownWorkflowTypeError) as info:
        three_versions.get_definition("Payment", "3")

    err = info.value
    assert isinstance(err, DefinitionError)
    assert err.workflow_type == "Payment"
    assert err.detail == "workflow type 'Payment' has no version '3' (known: 1, 2, 10)"
    assert str(err) == "workflow 'Payment': " + err.detail


def test_lookup__unknown_type_raises_listing_known_types(three_versions: WorkflowBuilder) -> None:
    with pytest.raises(UnknownWorkflowTypeError) as info:
        three_versions.get_definition("Shipping")

    err = info.value
    assert err.workflow_type == "Shipping"
    assert err.detail.startswith(
        "unknown workflow type 'Shipping' (known: Payment, Refund); looked in config_dir "
    )
    assert err.file is None


def test_lookup__unknown_type_in_empty_registry_says_none(tmp_path: Path) -> None:
    with pytest.raises(UnknownWorkflowTypeError, match=r"\(known: none\)"):
        WorkflowBuilder(config_dir=tmp_path).get_definition("Anything")


# --- immutability -------------------------------------------------------------------------------


def test_spec__objects_are_frozen(tmp_path: Path) -> None:
    definition = load_one(tmp_path, minimal_yaml("Frozen"))
    spec = definition.spec
    step_spec = spec.steps[0]

    with pytest.raises(ValidationError, match="frozen"):
        spec.workflow_type = "Other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        step_spec.function = f"{F}.undo_step"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        step_spec.retry_policy.max_attempts = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.steps[0].is_async = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.state_model = fx.ApprovalInput  # type: ignore[misc]
    assert isinstance(spec.steps, tuple)
    assert isinstance(definition.steps, tuple)
    assert spec.workflow_type == "Frozen"
    assert step_spec.function == f"{F}.ok_step"


# --- retries ------------------------------------------------------------------------------------


def test_retry_policy__parsed_from_yaml(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: Retrying
        initial_state_model: {F}.OrderState
        steps:
          - name: flaky
            function: {F}.ok_step
            retry_policy:
              max_attempts: 5
              initial_delay: 0.5
              backoff: 3
              max_delay: 10
              retry_on: [ValueError]
        """,
    )

    policy = definition.steps[0].spec.retry_policy
    assert policy == RetryPolicy(
        max_attempts=5, initial_delay=0.5, backoff=3.0, max_delay=10.0, retry_on=("ValueError",)
    )
    # initial_delay * backoff ** (n - 1), capped at max_delay
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.5, 4.5, 10.0, 10.0]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy(), [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]),
        (RetryPolicy(initial_delay=2, backoff=1), [2.0] * 8),
        (RetryPolicy(initial_delay=0), [0.0] * 8),
        (RetryPolicy(initial_delay=5, backoff=2, max_delay=3), [3.0] * 8),
    ],
    ids=["defaults", "constant", "zero", "capped-from-start"],
)
def test_retry_policy__delay_is_exponential_and_capped(
    policy: RetryPolicy, expected: list[float]
) -> None:
    delays = [policy.delay(n) for n in range(1, 9)]

    assert delays == expected
    assert all(isinstance(d, float) for d in delays)


def test_retry_on__resolves_builtin_dotted_and_bare_names(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: RetryOn
        initial_state_model: {F}.OrderState
        steps:
          - name: flaky
            function: {F}.ok_step
            retry_policy:
              max_attempts: 3
              retry_on:
                - ConnectionError
                - {F}.PaymentDeclined
                - TransientError
        """,
    )

    step = definition.steps[0]
    assert step.retry_on == (ConnectionError, fx.PaymentDeclined, "TransientError")
    # builtin class, and its subclasses
    assert step.should_retry(ConnectionError()) is True
    assert step.should_retry(ConnectionRefusedError()) is True
    # dotted path resolved to the class
    assert step.should_retry(fx.PaymentDeclined()) is True
    # bare unknown name matched by class name, anywhere in the MRO
    assert step.should_retry(fx.TransientError()) is True
    assert step.should_retry(fx.FlakyNetworkError()) is True
    # not listed
    assert step.should_retry(ValueError()) is False
    assert step.should_retry(KeyError("x")) is False


def test_retry_on__empty_retries_every_exception_but_not_base_exceptions(tmp_path: Path) -> None:
    step = load_one(tmp_path, minimal_yaml("AnyRetry")).steps[0]

    assert step.retry_on == ()
    assert step.should_retry(ValueError()) is True
    assert step.should_retry(fx.PaymentDeclined()) is True
    assert step.should_retry(KeyboardInterrupt()) is False


def test_retry_on__bare_name_does_not_match_other_exceptions(tmp_path: Path) -> None:
    definition = load_one(
        tmp_path,
        f"""\
        workflow_type: BareOnly
        initial_state_model: {F}.OrderState
        steps:
          - name: flaky
            function: {F}.ok_step
            retry_policy:
              retry_on: [FlakyNetworkError]
        """,
    )

    step = definition.steps[0]
    assert step.retry_on == ("FlakyNetworkError",)
    assert step.should_retry(fx.FlakyNetworkError()) is True
    # the base class does not carry the subclass's name
    assert step.should_retry(fx.TransientError()) is False
