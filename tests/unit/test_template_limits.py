"""Hostile templates are stopped by the render limits: before they allocate, and in bounded time.

The corpus holds one template per way found to make Jinja2's sandbox build a huge value or run
on: operators, printf and ``str.format`` widths, growing filters, methods and globals, shared
literals, buffers, loops and recursion. Each must fail with a ``TemplateError`` that names the
limit, within seconds, without its peak memory ever coming near what the attack asks for.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest
from pydantic import BaseModel

from ruvon.errors import TemplateError
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine, TemplateLimits


class State(BaseModel):
    name: str = "Ann"
    items: list[int] = list(range(10))


#: A render may use this much memory at its peak: far below what any attack asks for (1 GB and
#: up), above what the limits let a render build (10 million characters or elements in total).
PEAK_BYTES = 100 * 2**20

# (template, what the error says after "exceeds a limit: ")
CORPUS: list[tuple[str, str]] = [
    # repetition and arithmetic
    ("{{ 'x' * 10**9 }}", "repeating a sequence would be larger than 1000000"),
    ("{{ 10**9 * 'x' }}", "repeating a sequence would be larger than 1000000"),
    ("{{ [0] * 10**9 }}", "repeating a sequence would be larger than 1000000"),
    ("{{ [range(100000)|list] * 100 }}", "repeating a sequence would be larger than 1000000"),
    ("{{ (2 ** 6000) * (2 ** 6000) }}", "the product would exceed 10000 bits"),
    ("{{ 2 ** 100000 }}", "2 ** 100000 would exceed 10000 bits"),
    (
        "{% set ns = namespace(x='x' * 100000) %}"
        "{% for i in range(30) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "the sum would be larger than 1000000",
    ),
    (
        "{% set ns = namespace(x='x' * 100000) %}"
        "{% for i in range(30) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        "the concatenation would be larger than 1000000",
    ),
    # printf-style formatting, operator and filter
    ("{{ '%999999999d' % 1 }}", "the formatted string would be larger than 1000000"),
    ("{{ '%*d' % (999999999, 1) }}", "the formatted string would be larger than 1000000"),
    ("{{ '%.999999999f' % 1.0 }}", "the formatted string would be larger than 1000000"),
    ("{{ '%((a))999999999s' % {'(a)': 1} }}", "the formatted string would be larger than"),
    ("{{ '%999999999d' | format(1) }}", "the formatted string would be larger than 1000000"),
    ("{{ '%(x)999999999d' | format(x=1) }}", "the formatted string would be larger than"),
    # one mapping value formatted by every conversion: the format is 600 kB, its output 10 GB
    ("{{ ('%(a)s' * 100000) % {'a': 'x' * 100000} }}", "the formatted string would be larger"),
    ("{{ ('%(a)s' * 100000) | format(a='x' * 100000) }}", "the formatted string would be"),
    # str.format
    ("{{ '{:>999999999}'.format(1) }}", "the formatted field would be larger than 1000000"),
    ("{{ '{0:{1}}'.format(1, 999999999) }}", "the formatted field would be larger than"),
    ("{{ '{:.999999999f}'.format(1.0) }}", "the formatted field would be larger than"),
    ("{{ '{x:>999999999}'.format_map({'x': 1}) }}", "the formatted field would be larger than"),
    ("{{ ('{0}' * 100000).format('x' * 100000) }}", "the template builds more than 10000000"),
    # filters
    ("{{ 'a' | center(10**9) }}", "the centered string would be larger than 1000000"),
    ("{{ 'a' | center(1000000000) }}", "the centered string would be larger than 1000000"),
    ("{% filter center(10**9) %}x{% endfilter %}", "the centered string would be larger"),
    ("{{ 'a\nb' | indent(10**9) }}", "the indented string would be larger than 1000000"),
    ("{{ ('a\n' * 50000) | indent(20000) }}", "the indented string would be larger than"),
    (
        "{{ ('a ' * 50000) | wordwrap(1, wrapstring='x' * 100000) }}",
        "the wrapped string would be larger than 1000000",
    ),
    ("{{ ('x' * 1000) | replace('', 'y' * 100000) }}", "the replaced string would be larger"),
    ("{{ ('a.b ' * 30000) | urlize(target='x' * 1000) }}", "the urlized string would be larger"),
    ("{{ state.items | tojson(indent=10**9) }}", "the indented JSON would be larger than"),
    ("{{ range(1000) | batch(10**9, 'x') | list }}", "the filled batch would be larger than"),
    ("{{ range(10) | slice(10**9) | list }}", "the number of slices would be larger than"),
    ("{{ range(100000) | map('center', 1000) | join }}", "the joined string would be larger"),
    ("{{ [[1] * 1000] * 500 | sum(start=[]) }}", "the sum filter only adds numbers"),
    ("{{ 1 | round(-10**9, 'ceil') }}", "round precision must be within +-100"),
    # methods of strings and numbers
    ("{{ 'x'.ljust(10**9) }}", "the result of ljust() would be larger than 1000000"),
    ("{{ 'x'.center(10**9) }}", "the result of center() would be larger than 1000000"),
    ("{{ '1'.zfill(10**9) }}", "the result of zfill() would be larger than 1000000"),
    ("{{ ('\t' * 100000).expandtabs(100000) }}", "the result of expandtabs() would be larger"),
    ("{{ ('x' * 1000).replace('', 'y' * 100000) }}", "the result of replace() would be larger"),
    ("{{ ('a' * 100000).translate({97: 'x' * 1000}) }}", "the result of translate() would be"),
    ("{{ (1).to_bytes(10**9, 'big') }}", "the result of to_bytes() would be larger than"),
    ("{{ ('x' * 1000).join(range(100000) | map('string')) }}", "the joined string would be"),
    # globals
    ("{{ lipsum(n=10**6) }}", "the lorem ipsum would be larger than 1000000"),
    ("{{ lipsum(n=1000, min=1000, max=100000) }}", "the lorem ipsum would be larger than"),
    ("{{ dict.fromkeys(range(100000), range(1000) | list) }}", "the result of a call would be"),
    # shared values: each literal is small, what it stands for is not
    (
        "{% set a = range(100000) | list %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c }}",
        "the literal would be larger than 1000000",
    ),
    # output, direct and buffered
    ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "the output is longer than"),
    (
        "{% for i in range(100000) %}{{ loop.cycle('a' * 100000, 'b') }}{% endfor %}",
        "the output is longer than 1000000 characters",
    ),
    (
        "{% set x %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}",
        "the buffered output would be larger than 1000000",
    ),
    (
        "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}{% endmacro %}"
        "{{ m() | length }}",
        "the buffered output would be larger than 1000000",
    ),
    (
        "{% block b %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endblock %}"
        "{{ self.b() | length }}",
        "the output is longer than 1000000 characters",
    ),
]


@pytest.fixture(scope="module")
def engine() -> Jinja2TemplateEngine:
    return Jinja2TemplateEngine()


@pytest.mark.parametrize(("template", "refusal"), CORPUS)
def test_hostile_template__refused_by_a_limit_in_bounded_time_and_memory(
    engine: Jinja2TemplateEngine, template: str, refusal: str
) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TemplateError) as info:
            engine.render(template, {"state": State()})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert time.perf_counter() - started < 10.0  # the render limit is 2 s; tracing slows it
    assert peak < PEAK_BYTES
    assert "exceeds a limit: " + refusal in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "template",
    [
        # 10**10 iterations of two ranges the sandbox allows one by one
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        # 2**40 macro calls, no loop at all
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        # a recursive loop whose inner calls each loop again
        "{% for x in [1] recursive %}{% for y in range(100000) %}{% endfor %}"
        "{{ loop(range(100000)) }}{% endfor %}",
        # filters applied lazily, item by item, inside one loop
        "{% for i in range(100000) %}{{ range(100000) | map('abs') | list | length }}{% endfor %}",
    ],
)
def test_loop_work_and_recursion__stopped_by_the_step_count(template: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match=r"exceeds a limit: the template takes more than 10000"):
        Jinja2TemplateEngine(TemplateLimits(max_steps=10_000)).render(template, {})
    assert time.perf_counter() - started < 2.0


def test_step_count__counts_iterations_calls_and_filters() -> None:
    limits = TemplateLimits(max_steps=1000)
    # range() once, 9 iterations; each: range() once, 99 iterations, |abs once: 1 + 9 + 9 * 101
    fits = "{% for i in range(9) %}{% for j in range(99) %}{% endfor %}{{ i | abs }}{% endfor %}"
    assert Jinja2TemplateEngine(limits).render(fits, {}) == "012345678"
    with pytest.raises(TemplateError, match=r"takes more than 1000 steps \(loop iterations"):
        Jinja2TemplateEngine(limits).render(fits.replace("range(9)", "range(10)"), {})


def test_default_limits__stop_nested_loops_within_the_render_time() -> None:
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateError, match=r"more than 1000000 steps|longer than 2.0 seconds"):
        Jinja2TemplateEngine().render(template, {})
    assert time.perf_counter() - started < 5.0


def test_slow_render__stopped_by_the_clock_on_any_thread() -> None:
    # Few steps, each one slow: only the clock stops it. On a worker thread, where no signal
    # could interrupt it.
    engine = Jinja2TemplateEngine(TemplateLimits(max_render_seconds=0.2))
    template = "{% for i in range(100000) %}{% set x = range(100000) | join %}{% endfor %}"
    errors: list[BaseException] = []

    def render() -> None:
        try:
            engine.render(template, {})
        except TemplateError as exc:
            errors.append(exc)

    started = time.perf_counter()
    worker = threading.Thread(target=render)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert time.perf_counter() - started < 5.0
    assert len(errors) == 1
    assert "exceeds a limit: rendering takes longer than 0.2 seconds" in str(errors[0])


def test_output_limit__counts_every_piece(engine: Jinja2TemplateEngine) -> None:
    small = Jinja2TemplateEngine(TemplateLimits(max_output_length=100))
    assert small.render("{% for i in range(10) %}{{ 'x' * 10 }}{% endfor %}", {}) == "x" * 100
    with pytest.raises(TemplateError, match="the output is longer than 100 characters"):
        small.render("{% for i in range(11) %}{{ 'x' * 10 }}{% endfor %}", {})


def test_total_built__bounded_even_when_each_value_is_small() -> None:
    engine = Jinja2TemplateEngine(TemplateLimits(max_built_size=100_000))
    template = "{% for i in range(1000) %}{% set x = 'y' * 1000 %}{% endfor %}done"
    with pytest.raises(TemplateError, match="builds more than 100000 characters or elements"):
        engine.render(template, {})


def test_pprint_of_a_deep_value__refused_before_formatting(engine: Jinja2TemplateEngine) -> None:
    # pformat indents every line by its depth: 5,000 lines 300 levels deep.
    deep: Any = list(range(5000))
    for _ in range(300):
        deep = [deep]
    with pytest.raises(TemplateError, match="the pretty-printed value would be larger than"):
        engine.render("{{ deep | pprint }}", {"deep": deep})


def test_long_template__refused_before_compiling() -> None:
    engine = Jinja2TemplateEngine(TemplateLimits(max_template_length=1000))
    with pytest.raises(TemplateError, match="1001 characters long, longer than the 1000"):
        engine.render("{{ x }}" + "y" * 994, {"x": 1})


@pytest.mark.parametrize(
    "template",
    ["{{ state.model_dump_json(indent=10**9) }}", "{{ state.model_dump() }}", "{{ state.json() }}"],
)
def test_model_methods__refused(engine: Jinja2TemplateEngine, template: str) -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        engine.render(template, {"state": State()})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [1, 2] + [3] }}", "[1, 2, 3]"),
        ("{{ '%5.1f|%-4d|%%' % (2.25, 7) }}", "  2.2|7   |%"),
        ("{{ '%(a)s-%(b)03d' % {'a': 'x', 'b': 5} }}", "x-005"),
        ("{{ '{:>6}|{:.2f}|{x:^5}'.format('ab', 3.14159, x='c') }}", "    ab|3.14|  c  "),
        ("{{ 'a' | center(5) }}", "  a  "),
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{{ 'aaa bbb ccc' | wordwrap(3) }}", "aaa\nbbb\nccc"),
        ("{{ 'a-b' | replace('-', '+') }}", "a+b"),
        ("{{ [1, 2, 3] | join(', ') }}", "1, 2, 3"),
        ("{{ range(3) | map('string') | join }}", "012"),
        ("{{ [1, 2] | sum }}", "3"),
        ("{{ 2.567 | round(2) }}", "2.57"),
        ("{{ {'b': 1, 'a': 2} | tojson(indent=1) }}", '{\n "a": 2,\n "b": 1\n}'),
        ("{{ 'x'.rjust(3, '.') ~ '1'.zfill(3) }}", "..x001"),
        ("{{ '-'.join(['a', 'b']) }}", "a-b"),
        ("{{ (255).to_bytes(2, 'big') }}", "b'\\x00\\xff'"),
        ("{{ lipsum(1, False, 5, 6).split() | length }}", "5"),
        (
            "{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}"
            "{% endfor %}{{ ns.n }}",
            "10",
        ),
        (
            "{% for x in [[1, [2]], [3]] recursive %}{% if x is iterable %}{{ loop(x) }}"
            "{% else %}{{ x }}{% endif %}{% endfor %}",
            "123",
        ),
        (
            "{% macro m(n) %}{% if n %}{{ n }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(3) }}",
            "321",
        ),
        ("{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x * 2 }}", "012012"),
        ("{% block b %}B{% endblock %}{{ self.b() }}", "BB"),
        ("{% for a, b in {'k': 1}.items() %}{{ a }}={{ b }}{% endfor %}", "k=1"),
        ("{{ state.name ~ '/' ~ state.items | length }}", "Ann/10"),
    ],
)
def test_bounded_operations__still_give_jinja2_results(
    engine: Jinja2TemplateEngine, template: str, expected: str
) -> None:
    names: dict[str, Any] = {"state": State()}
    assert engine.render(template, names) == expected


def test_render_object__is_one_render_for_the_limits() -> None:
    engine = Jinja2TemplateEngine(TemplateLimits(max_output_length=100))
    body = {"a": "{{ 'x' * 40 }}", "b": ["{{ 'y' * 40 }}", "plain text is not rendered"]}
    assert engine.render_object(body, {})["b"][0] == "y" * 40
    with pytest.raises(TemplateError, match="the output is longer than 100 characters"):
        engine.render_object({**body, "c": "{{ 'z' * 40 }}"}, {})


def test_error_messages__do_not_quote_huge_values(engine: Jinja2TemplateEngine) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render("{{ {}[key] }}", {"key": "k" * 500_000})
    assert len(str(info.value)) < 1000
