"""Bad definitions name the closest known key, so a key spelt as other Ruvon material (or a
typo) spells it is easy to fix; an unknown workflow type says where the builder looked."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.definition import load_definition
from ruvon.definition.parse import closest, did_you_mean, key_names
from ruvon.definition.schema import RetryPolicy, StepSpec, WorkflowSpec
from ruvon.errors import DefinitionError, UnknownWorkflowTypeError

F = "defs_fixtures.steps"
BASE: dict[str, Any] = {
    "workflow_type": "Broken",
    "initial_state_model": f"{F}.OrderState",
    "steps": [{"name": "a", "function": f"{F}.ok_step"}],
}


def error_of(change: dict[str, Any], *, step: dict[str, Any] | None = None) -> DefinitionError:
    data = copy.deepcopy(BASE)
    data.update(change)
    if step is not None:
        data["steps"][0].update(step)
    with pytest.raises(DefinitionError) as info:
        load_definition(data, source="inline")
    return info.value


@pytest.mark.parametrize(
    ("step_key", "suggested"),
    [
        ("compensate", "compensate_function"),
        ("automate", "automate_next"),
        ("Function", "function"),
        ("compensate_func", "compensate_function"),
        ("input_schema", "input_model"),
        ("timeout", "timeout_seconds"),
    ],
)
def test_unknown_step_key__suggests_the_closest_known_key(step_key: str, suggested: str) -> None:
    err = error_of({}, step={step_key: "x"})

    assert (err.step, err.key) == ("a", step_key)
    assert err.detail == f"unknown key (did you mean '{suggested}'?)"
    assert str(err).endswith(f"key '{step_key}': unknown key (did you mean '{suggested}'?)")


@pytest.mark.parametrize(
    ("top_key", "suggested"),
    [
        ("saga_enable", "saga_enabled"),
        ("saga", "saga_mode"),
        ("initial_state", "initial_state_model"),
        ("initial_state_model_pth", "initial_state_model_path"),
        ("workflow_versoin", "workflow_version"),
    ],
)
def test_unknown_top_level_key__suggests_the_closest_known_key(
    top_key: str, suggested: str
) -> None:
    err = error_of({top_key: "x"})

    assert (err.step, err.key) == (None, top_key)
    assert err.detail == f"unknown key (did you mean '{suggested}'?)"


def test_unknown_nested_key__suggests_from_the_nested_model() -> None:
    err = error_of({}, step={"retry_policy": {"max_atempts": 3}})

    assert err.key == "retry_policy.max_atempts"
    assert err.detail == "unknown key (did you mean 'max_attempts'?)"


def test_unknown_route_key__suggests_from_the_route_model() -> None:
    step = {
        "type": "DECISION",
        "routes": [{"condition": "True", "targt": "a"}, {"default": "a"}],
    }
    err = error_of({}, step=step)

    assert err.key == "routes.0.targt"
    assert err.detail == "unknown key (did you mean 'target'?)"


def test_unknown_key__far_from_every_known_key_gets_no_guess() -> None:
    assert error_of({}, step={"colour": "blue"}).detail == "unknown key"
    assert error_of({"owner": "me"}).detail == "unknown key"


def test_key_names__are_field_names_and_their_aliases() -> None:
    assert {"initial_state_model_path", "saga_enabled", "steps"} <= set(key_names(WorkflowSpec))
    assert {"compensate_function", "retry_policy"} <= set(key_names(StepSpec))
    assert "max_attempts" in key_names(RetryPolicy)


def test_closest__prefers_case_then_spelling_then_a_unique_prefix() -> None:
    assert closest("FUNCTION", ["function", "functions"]) == "function"
    assert closest("retry_polcy", ["retry_policy", "retry_on"]) == "retry_policy"
    assert closest("timeout", ["timeout_seconds", "name"]) == "timeout_seconds"
    assert closest("tim", ["timeout_seconds"]) is None  # too short to guess from a prefix
    assert closest("zzz", ["function"]) is None
    assert did_you_mean("automate", ["automate_next"]) == " (did you mean 'automate_next'?)"
    assert did_you_mean(3, ["x"]) == ""


# --- unknown workflow types say where the builder looked ----------------------------------------


def write_definition(directory: Path, name: str, workflow_type: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(
        f"workflow_type: {workflow_type}\ninitial_state_model: {F}.OrderState\n"
        f"steps:\n  - name: a\n    function: {F}.ok_step\n",
        encoding="utf-8",
    )
    return path


def unknown(builder: WorkflowBuilder, workflow_type: str) -> UnknownWorkflowTypeError:
    with pytest.raises(UnknownWorkflowTypeError) as info:
        builder.get_definition(workflow_type)
    assert info.value.workflow_type == workflow_type
    return info.value


def test_unknown_type__names_the_registry_file_and_the_known_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_definition(tmp_path / "config", "p.yaml", "Payment")
    write_definition(tmp_path / "config", "r.yaml", "Refund")
    (tmp_path / "config" / "workflow_registry.yaml").write_text(
        "workflows:\n  - config_file: p.yaml\n  - config_file: r.yaml\n", encoding="utf-8"
    )

    err = unknown(WorkflowBuilder(config_dir="config"), "Shipping")

    registry_file = Path("config") / "workflow_registry.yaml"
    assert err.detail == (
        f"unknown workflow type 'Shipping' (known: Payment, Refund); looked in registry file "
        f"'{registry_file}'"
    )


def test_unknown_type__names_the_scanned_config_dir_and_a_close_type(tmp_path: Path) -> None:
    write_definition(tmp_path, "p.yaml", "PaymentProcessing")

    err = unknown(WorkflowBuilder(config_dir=tmp_path), "PaymentProcesing")

    assert err.detail == (
        "unknown workflow type 'PaymentProcesing', did you mean 'PaymentProcessing'? "
        f"(known: PaymentProcessing); looked in config_dir '{tmp_path}' (every *.yaml and *.yml "
        "in it with a workflow_type)"
    )


def test_unknown_type__names_the_dict_and_where_its_files_are_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    path = write_definition(tmp_path, "p.yaml", "Payment")

    err = unknown(WorkflowBuilder(workflow_registry={"Payment": str(path)}), "Refund")

    assert err.detail == (
        "unknown workflow type 'Refund' (known: Payment); looked in the workflow_registry dict "
        f"(its files looked up in '{tmp_path}')"
    )


def test_unknown_type__says_the_default_config_dir_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)

    err = unknown(WorkflowBuilder(), "HelloWorkflow")

    assert err.detail == (
        "unknown workflow type 'HelloWorkflow' (known: none); looked in 'config', which does "
        "not exist (pass config_dir= or workflow_registry=, or set RUVON_CONFIG_DIR)"
    )
