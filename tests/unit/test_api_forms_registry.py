"""The registry forms and builder constructor shapes of the original Ruvon documentation.

- ``config/workflow_registry.yaml`` with ``workflows: [{type, description?, config_file,
  initial_state_model | initial_state_model_path, requires?, deprecated?}]``;
- ``WorkflowBuilder("config/workflow_registry.yaml")``, ``WorkflowBuilder(config_dir="config/")``,
  ``WorkflowBuilder()`` and the testing guide's dict with ``config_file`` entries;
- ``WorkflowBuilder(config_dir=, persistence_provider=, execution_provider=, observer=)`` then
  ``await create_workflow(workflow_type=, initial_data=)``, with no evaluator or template class.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.definition import definition_from_snapshot, discover
from ruvon.definition.dict_state import DictState
from ruvon.errors import DefinitionError
from ruvon.implementations.execution.sync import SyncExecutionProvider
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

F = "defs_fixtures.steps"
STATE = f"{F}.OrderState"


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def definition_yaml(workflow_type: str, state_key: str | None = None, model: str = STATE) -> str:
    """A one-step definition; without ``state_key`` it names no state model."""
    state = f"{state_key}: {model}\n" if state_key else ""
    return (
        f"workflow_type: {workflow_type}\n{state}steps:\n"
        f"  - name: only_step\n    function: {F}.ok_step\n"
    )


REGISTRY = """\
workflows:
  - type: "OrderProcessing"
    description: "E-commerce order processing workflow"
    config_file: "order_processing.yaml"
    initial_state_model_path: "defs_fixtures.steps.OrderState"
    requires:
      - ruvon-payment-gateway
      - ruvon-inventory

  - type: "HelloWorkflow"
    description: "My first workflow"
    config_file: "hello_workflow.yaml"
    initial_state_model: "builtins.dict"
    deprecated: true

requires:
  - ruvon-notifications
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, the working directory, with ``config/workflow_registry.yaml``
    naming two definition files that do not name their state model."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    config = tmp_path / "config"
    write(config, "workflow_registry.yaml", REGISTRY)
    write(config, "order_processing.yaml", definition_yaml("OrderProcessing"))
    write(config, "hello_workflow.yaml", definition_yaml("HelloWorkflow"))
    return tmp_path


# --- the registry file form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: WorkflowBuilder("config/workflow_registry.yaml"),
        lambda: WorkflowBuilder(config_dir="config/"),
        lambda: WorkflowBuilder(),
        lambda: WorkflowBuilder(workflow_registry="config/workflow_registry.yaml"),
    ],
    ids=["positional-registry-path", "config_dir", "no-arguments", "workflow_registry-path"],
)
def test_registry_file__every_documented_builder_shape_reads_it(project: Path, make: Any) -> None:
    builder = make()

    assert builder.registry.types() == ["HelloWorkflow", "OrderProcessing"]
    assert builder.get_definition("OrderProcessing").state_model.__name__ == "OrderState"
    assert builder.get_definition("HelloWorkflow").state_model is DictState
    assert "registry file 'config" in builder.registry.origin


def test_registry_file__entry_facts_are_kept(project: Path) -> None:
    registry = WorkflowBuilder().registry

    order = registry.entries["OrderProcessing"]
    assert order.description == "E-commerce order processing workflow"
    assert order.requires == ("ruvon-payment-gateway", "ruvon-inventory")
    assert order.deprecated is False
    assert registry.entries["HelloWorkflow"].deprecated is True
    assert registry.requires == ("ruvon-notifications",)


def test_registry_file__the_entrys_state_model_is_pinned_in_the_snapshot(project: Path) -> None:
    definition = WorkflowBuilder().get_definition("OrderProcessing")

    assert definition.snapshot["initial_state_model_path"] == STATE
    assert definition.spec.description == "E-commerce order processing workflow"
    reloaded = definition_from_snapshot(definition.snapshot, source="snapshot")
    assert reloaded.state_model is definition.state_model


@pytest.mark.parametrize(
    ("file_key", "entry_key"),
    [
        ("initial_state_model", "initial_state_model"),
        ("initial_state_model_path", "initial_state_model"),
        ("initial_state_model", "initial_state_model_path"),
    ],
)
def test_registry_file__the_files_own_state_model_wins(
    tmp_path: Path, file_key: str, entry_key: str
) -> None:
    write(tmp_path, "a.yaml", definition_yaml("A", file_key, model="builtins.dict"))
    write(tmp_path, "reg.yaml", f"workflows:\n  - config_file: a.yaml\n    {entry_key}: {STATE}\n")

    definition = discover(workflow_registry=tmp_path / "reg.yaml").get("A")

    assert definition.state_model is DictState


def test_registry_file__entry_gives_other_missing_definition_keys(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", definition_yaml("A", "initial_state_model"))
    write(
        tmp_path,
        "reg.yaml",
        "workflows:\n  - config_file: a.yaml\n    workflow_version: '2.1'\n"
        "    saga_enabled: true\n",
    )

    definition = discover(workflow_registry=tmp_path / "reg.yaml").get("A")

    assert (definition.workflow_version, definition.spec.saga_mode) == ("2.1", True)


def test_registry_file__yml_extension_is_found_in_config_dir(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", definition_yaml("A", "initial_state_model"))
    write(tmp_path, "b.yaml", definition_yaml("B", "initial_state_model"))
    write(tmp_path, "workflow_registry.yml", "workflows:\n  - config_file: a.yaml\n")

    assert discover(config_dir=tmp_path).types() == ["A"]  # the registry, not a scan


def test_config_dir_naming_a_definition_file_loads_that_definition(tmp_path: Path) -> None:
    path = write(tmp_path, "one.yaml", definition_yaml("One", "initial_state_model"))

    registry = WorkflowBuilder(str(path)).registry

    assert registry.types() == ["One"]
    assert registry.origin == f"definition file '{path}'"


# --- where config_file is looked for --------------------------------------------------------------


def test_config_file__falls_back_to_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "registries", "reg.yaml", "workflows:\n  - config_file: a.yaml\n")
    a = write(tmp_path / "defs", "a.yaml", definition_yaml("A", "initial_state_model"))

    builder = WorkflowBuilder(config_dir="defs", workflow_registry="registries/reg.yaml")

    assert builder.get_definition("A").source == str(Path("defs") / "a.yaml")
    assert Path(builder.get_definition("A").source).resolve() == a


def test_config_file__next_to_the_registry_wins_over_config_dir(tmp_path: Path) -> None:
    write(tmp_path / "reg", "reg.yaml", "workflows:\n  - config_file: a.yaml\n")
    near = write(tmp_path / "reg", "a.yaml", definition_yaml("A", "initial_state_model"))
    write(tmp_path / "defs", "a.yaml", definition_yaml("Other", "initial_state_model"))

    registry = discover(config_dir=tmp_path / "defs", workflow_registry=tmp_path / "reg/reg.yaml")

    assert registry.get("A").source == str(near)


def test_config_file__falls_back_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The getting-started layout: the definition next to its steps module, the registry in
    ``config/``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    write(tmp_path / "config", "workflow_registry.yaml", "workflows:\n  - config_file: h.yaml\n")
    write(tmp_path, "h.yaml", definition_yaml("Hello", "initial_state_model"))

    assert WorkflowBuilder(config_dir="config/").registry.types() == ["Hello"]


def test_config_file__not_found_anywhere_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reg = write(
        tmp_path / "config", "workflow_registry.yaml", "workflows:\n  - config_file: x.yaml\n"
    )

    with pytest.raises(DefinitionError) as info:
        discover(config_dir="config")

    err = info.value
    assert (err.file, err.key) == (
        str(Path("config") / "workflow_registry.yaml"),
        "workflows.0.config_file",
    )
    assert err.detail == (
        f"config_file 'x.yaml' not found (looked for '{Path('config') / 'x.yaml'}', "
        f"'{tmp_path / 'x.yaml'}')"
    )
    assert reg.is_file()


def test_registry_dict__config_file_entries_relative_to_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The testing guide's dict: ``{type: {config_file, initial_state_model_path}}``."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "config", "order_processing.yaml", definition_yaml("OrderProcessing"))
    workflow_registry = {
        "OrderProcessing": {
            "config_file": "order_processing.yaml",
            "initial_state_model_path": STATE,
        }
    }

    builder = WorkflowBuilder(
        workflow_registry=workflow_registry,
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
        config_dir="config/",
    )

    assert builder.get_definition("OrderProcessing").state_model.__name__ == "OrderState"


# --- registry entry errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key", "detail"),
    [
        (
            "config_fle: a.yaml",
            "workflows.0.config_fle",
            "unknown key (did you mean 'config_file'?)",
        ),
        (
            "config_file: a.yaml\n    initial_state: x.Y",
            "workflows.0.initial_state",
            "unknown key (did you mean 'initial_state_model'?)",
        ),
        (
            "config_file: a.yaml\n    requires: one-package",
            "workflows.0.requires",
            "'requires' must be a list of package names",
        ),
        (
            "config_file: a.yaml\n    deprecated: sometimes",
            "workflows.0",
            "'deprecated' must be true or false",
        ),
    ],
    ids=[
        "misspelt-config_file",
        "misspelt-state-model",
        "requires-not-a-list",
        "deprecated-not-bool",
    ],
)
def test_registry_entry__bad_keys_are_named(
    tmp_path: Path, entry: str, key: str, detail: str
) -> None:
    write(tmp_path, "a.yaml", definition_yaml("A", "initial_state_model"))
    reg = write(tmp_path, "reg.yaml", f"workflows:\n  - {entry}\n")

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=reg)

    assert (info.value.file, info.value.key, info.value.detail) == (str(reg), key, detail)


def test_registry_entry__state_model_missing_everywhere_names_the_definition(
    tmp_path: Path,
) -> None:
    a = write(tmp_path, "a.yaml", definition_yaml("A"))
    reg = write(tmp_path, "reg.yaml", "workflows:\n  - config_file: a.yaml\n")

    with pytest.raises(DefinitionError) as info:
        discover(workflow_registry=reg)

    assert (info.value.file, info.value.key) == (str(a), "initial_state_model")


# --- deprecated types -----------------------------------------------------------------------------


async def test_deprecated_type__warns_once_when_workflows_are_created(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())

    with caplog.at_level(logging.WARNING, logger="ruvon"):
        await builder.create_workflow("HelloWorkflow", {"name": "Alice"})
        await builder.create_workflow("HelloWorkflow", {"name": "Bob"})
        await builder.create_workflow("OrderProcessing", {"order_id": "1"})

    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == [
        "workflow type 'HelloWorkflow' is marked deprecated in "
        f"{Path('config') / 'workflow_registry.yaml'}"
    ]


def test_deprecated_type__inline_dict_entry_is_marked_too() -> None:
    inline = {
        "workflow_type": "Old",
        "initial_state_model": STATE,
        "deprecated": True,
        "requires": ["pkg"],
        "steps": [{"name": "a", "function": f"{F}.ok_step"}],
    }

    registry = discover(workflow_registry={"Old": inline})

    assert (registry.entries["Old"].deprecated, registry.entries["Old"].requires) == (
        True,
        ("pkg",),
    )
    assert "deprecated" not in registry.get("Old").snapshot  # not a definition key


# --- the keyword form of the configuration guide ------------------------------------------------


async def test_builder_keyword_form__observer_and_providers_from_the_constructor(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    persistence = InMemoryPersistenceProvider()
    await persistence.initialize()
    execution = SyncExecutionProvider()
    observer = LoggingObserver()

    builder = WorkflowBuilder(
        config_dir="config/",
        persistence_provider=persistence,
        execution_provider=execution,
        observer=observer,
    )
    with caplog.at_level(logging.INFO, logger="ruvon"):
        workflow = await builder.create_workflow(
            workflow_type="OrderProcessing", initial_data={"order_id": "123"}
        )
        await workflow.next_step()

    assert (workflow.persistence, workflow.executor, workflow.observer) == (
        persistence,
        execution,
        observer,
    )
    assert builder.workflow_observer is observer
    assert workflow.status == "COMPLETED"
    assert (await persistence.load_workflow(workflow.id)).status == "COMPLETED"
    assert any(workflow.id in r.getMessage() for r in caplog.records)  # the observer logged


def test_builder_keyword_form__observer_and_workflow_observer_together() -> None:
    one, other = LoggingObserver(), LoggingObserver()
    assert WorkflowBuilder(workflow_observer=one, observer=one).workflow_observer is one
    with pytest.raises(TypeError, match="workflow_observer or observer"):
        WorkflowBuilder(workflow_observer=one, observer=other)


def route(state: Any, context: Any) -> dict[str, Any]:
    return {"checked": True}


def mark(state: Any, context: Any) -> dict[str, Any]:
    return {"path": context.step_name}


async def test_create_workflow__without_evaluator_or_template_classes(tmp_path: Path) -> None:
    """The getting-started call: no expression evaluator or template engine anywhere; a
    DECISION step still evaluates its condition with the default evaluator."""
    here = "test_api_forms_registry"
    definition = {
        "workflow_type": "Routed",
        "initial_state_model": "builtins.dict",
        "steps": [
            {
                "name": "Check",
                "type": "DECISION",
                "function": f"{here}.route",
                "automate_next": True,
                "routes": [
                    {"condition": "state.amount > 1000", "target": "Big"},
                    {"default": "Small"},
                ],
            },
            {"name": "Small", "function": f"{here}.mark"},
            {"name": "Big", "function": f"{here}.mark"},
        ],
    }
    builder = WorkflowBuilder(workflow_registry={"Routed": definition})

    workflow = await builder.create_workflow(
        workflow_type="Routed",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutionProvider(),
        workflow_observer=LoggingObserver(),
        workflow_builder=builder,
        initial_data={"amount": 5000},
    )
    await workflow.next_step(user_input={})

    assert workflow.state == {"amount": 5000, "checked": True, "path": "Big"}
    assert type(workflow.expression_evaluator) is SimpleExpressionEvaluator
    assert type(workflow.template_engine) is Jinja2TemplateEngine
