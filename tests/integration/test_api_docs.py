"""docs/api.md covers the whole public surface of ``Workflow`` and ``WorkflowBuilder`` and shows
real code: every public name of both classes is documented in its class's section, every
signature the page shows has the method's parameters, every block marked ``<!-- file: PATH -->``
is that file, and every block marked ``<!-- output: PATH -->`` is what that script prints now."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
EXAMPLES = ROOT / "docs" / "examples" / "api"
MARKED = re.compile(r"<!-- (file|output): (\S+) -->\n```[a-z]*\n(.*?)```\n", re.S)
# "#### `name`" followed by a ```python block holding its signature
SIGNATURE = re.compile(r"^#### `(\w+)`\n\n```python\n(.*?)```\n", re.S | re.M)
VAR_POSITIONAL, VAR_KEYWORD = inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD
HEADING = re.compile(r"^#### `(\w+)`", re.M)
TABLE_ROW = re.compile(r"^\| (`\w+`(?:, `\w+`)*) \|", re.M)


def public_names(cls: type) -> set[str]:
    """Methods, properties and class attributes not starting with ``_``, and the attributes
    ``__init__`` sets on ``self`` that do not either."""
    names = {name for name in dir(cls) if not name.startswith("_")}
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                    and not item.attr.startswith("_")
                ):
                    names.add(item.attr)
    return names


def section(cls: type) -> str:
    """The page's section of ``cls``: from its ``## `Name``` heading to the next ``## ``."""
    text = PAGE.read_text()
    start = text.index(f"\n## `{cls.__name__}`\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def documented(cls: type) -> set[str]:
    """The names the section documents: its ``#### `name``` headings and the names in the
    first cell of its tables' rows."""
    text = section(cls)
    names = set(HEADING.findall(text))
    for cell in TABLE_ROW.findall(text):
        names.update(re.findall(r"`(\w+)`", cell))
    return names


@pytest.mark.parametrize("cls", [Workflow, WorkflowBuilder], ids=lambda c: c.__name__)
def test_every_public_name_is_on_the_page(cls: type) -> None:
    missing = public_names(cls) - documented(cls)
    assert not missing, f"docs/api.md does not document {cls.__name__}.{sorted(missing)}"


def test_the_public_names_found_include_what_users_call() -> None:
    """A guard on ``public_names`` itself: it sees methods, properties and ``__init__``'s
    attributes."""
    assert {"next_step", "waiting_for", "state", "lease_seconds", "clock"} <= public_names(Workflow)
    assert {"create_workflow", "registry", "persistence_provider"} <= public_names(WorkflowBuilder)


def _shown(block: str, name: str) -> ast.arguments:
    """The parameters of the signature shown for ``name`` (a ``def`` or ``Class(...)``)."""
    text = block.strip()
    if not text.startswith(("def ", "async def ")):
        text = "def " + text  # "WorkflowBuilder(...)": the constructor
    if not text.endswith(":"):
        text += ": ..."
    func = ast.parse(text).body[0]
    assert isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef), name
    assert func.name == name, f"the block under `{name}` shows {func.name}"
    return func.args


@pytest.mark.parametrize("cls", [Workflow, WorkflowBuilder], ids=lambda c: c.__name__)
def test_every_signature_shown_is_the_methods(cls: type) -> None:
    signatures = SIGNATURE.findall(section(cls))
    headings = HEADING.findall(section(cls))
    assert [name for name, _ in signatures] == headings, "a #### heading without its signature"
    for name, block in signatures:
        target = cls.__init__ if name == cls.__name__ else getattr(cls, name)
        assert callable(target), f"{cls.__name__}.{name} is not a method"
        params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
        shown = _shown(block, name)
        for kind, arg in ((VAR_POSITIONAL, shown.vararg), (VAR_KEYWORD, shown.kwarg)):
            assert [p.name for p in params if p.kind is kind] == ([arg.arg] if arg else []), name
        actual = [p for p in params if p.kind not in (VAR_POSITIONAL, VAR_KEYWORD)]
        positional = shown.posonlyargs + shown.args
        assert [a.arg for a in positional] == [
            p.name for p in actual if p.kind is not p.KEYWORD_ONLY
        ], f"{name}: positional parameters"
        assert [a.arg for a in shown.kwonlyargs] == [
            p.name for p in actual if p.kind is p.KEYWORD_ONLY
        ], f"{name}: keyword-only parameters"
        defaults = [None] * (len(positional) - len(shown.defaults)) + list(shown.defaults)
        defaults += shown.kw_defaults
        for param, default in zip(
            [p for p in actual if p.kind is not p.KEYWORD_ONLY]
            + [p for p in actual if p.kind is p.KEYWORD_ONLY],
            defaults,
            strict=True,
        ):
            if param.default is param.empty:
                assert default is None, f"{name}: {param.name} has no default"
            else:
                assert default is not None, f"{name}: {param.name} has a default"
                assert ast.literal_eval(default) == param.default, f"{name}: {param.name}"
        assert inspect.iscoroutinefunction(target) == block.lstrip().startswith("async "), name


def test_the_page_names_every_extra_of_the_package() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    text = PAGE.read_text()
    install = text[text.index("## Installing") : text.index("## The example project")]
    documented_extras = set(re.findall(r"^\| `(\w+)` \|", install, re.M))
    assert documented_extras == set(extras)


def _blocks() -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in MARKED.finditer(PAGE.read_text())]


def test_every_example_file_is_shown_and_every_script_run() -> None:
    shown = {path for kind, path, _ in _blocks() if kind == "file"}
    run = {path for kind, path, _ in _blocks() if kind == "output"}
    files = {
        str(p.relative_to(ROOT))
        for p in EXAMPLES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shown == files
    assert run == {str(p.relative_to(ROOT)) for p in EXAMPLES.glob("*.py")}


def test_the_page_shows_its_files_as_they_are() -> None:
    for kind, path, text in _blocks():
        if kind == "file":
            assert (ROOT / path).read_text() == text, f"docs/api.md shows an old {path}"


@pytest.mark.parametrize(
    "script", sorted(p.name for p in EXAMPLES.glob("*.py")), ids=lambda name: name
)
def test_the_page_shows_what_each_example_prints(script: str) -> None:
    path = f"docs/examples/api/{script}"
    expected = [text for kind, shown, text in _blocks() if kind == "output" and shown == path]
    assert len(expected) == 1, f"docs/api.md shows the output of {path} {len(expected)} times"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    done = subprocess.run(
        [sys.executable, script],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected[0], f"{path} prints something else now"
