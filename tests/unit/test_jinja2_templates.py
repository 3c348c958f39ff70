"""Jinja2TemplateEngine: rendering in the immutable sandbox, errors as TemplateError."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from ruvon.errors import TemplateError
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.providers.templating import TemplateEngine


class Customer(BaseModel):
    name: str
    country: str


class State(BaseModel):
    order_id: str
    amount: float
    customer: Customer
    items: list[str]
    data: dict[str, Any]
    _token: str = "secret"


@pytest.fixture
def state() -> State:
    return State(
        order_id="O-1",
        amount=12.5,
        customer=Customer(name="Ann", country="DE"),
        items=["a", "b"],
        data={"k": {"x": 1}},
    )


@pytest.fixture(scope="module")
def engine() -> Jinja2TemplateEngine:
    return Jinja2TemplateEngine()


def test_module_uses_the_real_jinja2() -> None:
    import jinja2

    from ruvon.implementations.templating import jinja2 as module

    assert vars(module)["jinja2"] is jinja2
    assert jinja2.__name__ == "jinja2"
    assert hasattr(jinja2, "Environment")


def test_satisfies_the_provider_protocol(engine: Jinja2TemplateEngine) -> None:
    assert isinstance(engine, TemplateEngine)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Order {{ state.order_id }}", "Order O-1"),
        ("{{ state.customer.name }} ({{ state.customer.country }})", "Ann (DE)"),
        ("{{ state.data.k.x + 1 }}", "2"),
        ("{{ state.data['k']['x'] }}", "1"),
        ("{{ state.items | join(',') }}", "a,b"),
        ("{{ state.items | length }}", "2"),
        ("{{ '%.2f' | format(state.amount) }}", "12.50"),
        ("{% for i in state.items %}[{{ i }}]{% endfor %}", "[a][b]"),
        ("{% if state.amount > 10 %}big{% else %}small{% endif %}", "big"),
        ("{{ state.amount * 2 }}", "25.0"),
        ("{# a comment #}x", "x"),
        ("<b>{{ '<i>' }}</b>", "<b><i></b>"),  # autoescape is off
        ("line {{ 1 }}\n", "line 1\n"),  # trailing newline kept
        ("no markup at all", "no markup at all"),
        ("", ""),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ 'ab' * 3 }}", "ababab"),
    ],
)
def test_render(engine: Jinja2TemplateEngine, state: State, template: str, expected: str) -> None:
    assert engine.render(template, {"state": state}) == expected


def test_render_with_several_names(engine: Jinja2TemplateEngine) -> None:
    assert engine.render("{{ a }}-{{ b.c }}", {"a": 1, "b": {"c": "x"}}) == "1-x"


def test_render_object_renders_nested_strings(engine: Jinja2TemplateEngine, state: State) -> None:
    value = {
        "id": "{{ state.order_id }}",
        "count": 3,
        "flag": None,
        "nested": {
            "who": "{{ state.customer.name }}",
            "list": ["{{ state.items[0] }}", 7, ("{{ state.amount }}", True)],
        },
        "{{ key }}": "plain",
    }
    original = repr(value)
    rendered = engine.render_object(value, {"state": state})
    assert rendered == {
        "id": "O-1",
        "count": 3,
        "flag": None,
        "nested": {"who": "Ann", "list": ["a", 7, ("12.5", True)]},
        "{{ key }}": "plain",
    }
    assert isinstance(rendered["nested"]["list"][2], tuple)
    assert repr(value) == original  # the input is not modified


@pytest.mark.parametrize("value", [5, 2.5, None, True, b"{{ x }}", {"a", "b"}])
def test_render_object_passes_other_values_through(
    engine: Jinja2TemplateEngine, value: Any
) -> None:
    assert engine.render_object(value, {}) is value


def test_render_object_string(engine: Jinja2TemplateEngine) -> None:
    assert engine.render_object("{{ x }}!", {"x": 1}) == "1!"


def test_render_object_errors_are_template_errors(engine: Jinja2TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="missing"):
        engine.render_object({"a": ["{{ missing }}"]}, {})


def test_render_object_refuses_cycles(engine: Jinja2TemplateEngine) -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TemplateError, match="nested deeper"):
        engine.render_object(cyclic, {})


@pytest.mark.parametrize(
    "template",
    ["{{ missing }}", "{{ state.missing }}", "{{ state.customer.nope }}", "{{ state.items[5] }}"],
)
def test_strict_undefined(engine: Jinja2TemplateEngine, state: State, template: str) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render(template, {"state": state})
    assert template in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ state.__class__ }}",
        "{{ state.__dict__ }}",
        "{{ state._token }}",
        "{{ state.customer.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ range.__self__ }}",
        "{{ state.items.append('x') }}",
        "{{ state.data.update({'a': 1}) }}",
        "{{ state.data.clear() }}",
        "{{ '{0.__class__}'.format(state) }}",
        "{{ 9 ** 99999 }}",
        "{{ 2 ** 100000 }}",
        "{{ (2 ** 6000) * (2 ** 6000) }}",
        "{{ 'a' * 10 ** 9 }}",
        "{{ [1] * 10 ** 9 }}",
        "{{ range(10 ** 9) | list }}",
        "{{ 1 / 0 }}",
    ],
)
def test_sandbox_escapes_and_bombs_are_refused(
    engine: Jinja2TemplateEngine, state: State, template: str
) -> None:
    before = state.model_dump()
    with pytest.raises(TemplateError) as info:
        engine.render(template, {"state": state})
    assert template in str(info.value)
    assert info.value.__cause__ is not None
    assert state.model_dump() == before


def test_security_error_is_reported_as_unsafe(engine: Jinja2TemplateEngine, state: State) -> None:
    import jinja2.exceptions

    with pytest.raises(TemplateError, match="unsafe") as info:
        engine.render("{{ state.__class__ }}", {"state": state})
    assert isinstance(info.value.__cause__, jinja2.exceptions.SecurityError)


@pytest.mark.parametrize(
    "template",
    ["{{ state.order_id ", "{% for %}", "{% if x %}no end", "{{ }}", "{% endfor %}"],
)
def test_syntax_errors(engine: Jinja2TemplateEngine, template: str) -> None:
    import jinja2

    with pytest.raises(TemplateError, match="syntax") as info:
        engine.render(template, {"x": 1})
    assert repr(template) in str(info.value)
    assert isinstance(info.value.__cause__, jinja2.TemplateSyntaxError)


def test_compiled_templates_are_cached(state: State, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Jinja2TemplateEngine()
    calls = 0
    real_from_string = engine._env.from_string

    def counting_from_string(source: str) -> Any:
        nonlocal calls
        calls += 1
        return real_from_string(source)

    monkeypatch.setattr(engine._env, "from_string", counting_from_string)
    for amount in (1.0, 2.0, 3.0):
        state.amount = amount
        assert engine.render("{{ state.amount }}", {"state": state}) == str(amount)
    assert calls == 1


def test_long_templates_are_quoted_shortened(engine: Jinja2TemplateEngine) -> None:
    template = "{{ missing }}" + "x" * 1000
    with pytest.raises(TemplateError) as info:
        engine.render(template, {})
    assert len(str(info.value)) < 500


def test_non_string_template_is_refused(engine: Jinja2TemplateEngine) -> None:
    with pytest.raises(TemplateError, match="must be a string"):
        engine.render(42, {})  # type: ignore[arg-type]
