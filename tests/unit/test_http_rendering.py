"""Rendering an HTTP step's request and masking its secrets, without a network."""

from __future__ import annotations

import pytest

from ruvon.definition.http_spec import HttpConfig
from ruvon.errors import TemplateError
from ruvon.implementations.secrets.env import EnvironmentSecretsProvider
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.providers.secrets import SecretsProvider
from ruvon.steps.http import render_request
from ruvon.steps.http_secrets import MASK, Lookup, Masker, env_lookup, secrets_lookup

ENGINE = Jinja2TemplateEngine()


class Vault:
    def __init__(self, **values: str) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        return self.values.get(name)


def names(masker: Masker, vault: SecretsProvider | None = None) -> dict[str, object]:
    return {
        "state": {"user_id": "u-7", "amount": 12.5, "tags": ["a", "b"], "customer": {"n": "Ann"}},
        "env": env_lookup(),
        "secrets": secrets_lookup(vault or Vault(TOKEN="s3cr3t/+ &x"), masker),
        "context": {"idempotency_key": "wf-1:Call"},
    }


def config(**fields: object) -> HttpConfig:
    return HttpConfig.model_validate({"url": "https://api.test/x", **fields})


def test_a_single_expression_keeps_its_type_and_other_text_is_text() -> None:
    masker = Masker()
    body = {
        "tags": "{{state.tags}}",
        "amount": "{{ state.amount }}",
        "customer": "{{state.customer}}",
        "label": "user {{state.user_id}}",
        "nested": [{"id": "{{state.user_id}}"}, 3, None],
        "missing_ok": "{{ state.customer.get('x') }}",
    }
    request = render_request(ENGINE, config(body=body), names(masker), "k")
    assert request.body == {
        "tags": ["a", "b"],
        "amount": 12.5,
        "customer": {"n": "Ann"},
        "label": "user u-7",
        "nested": [{"id": "u-7"}, 3, None],
        "missing_ok": None,
    }


def test_url_headers_and_query_params_are_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_URL", "http://svc:8080")
    masker = Masker()
    request = render_request(
        ENGINE,
        config(
            method="put",
            url="{{env.SERVICE_URL}}/users/{{state.user_id}}",
            headers={"Authorization": "Bearer {{secrets.TOKEN}}", "X-Count": 3},
            query_params={"tag": "{{state.tags}}", "n": "{{state.amount}}"},
        ),
        names(masker),
        "wf-1:Call",
    )
    assert request.method == "PUT"
    assert request.url == "http://svc:8080/users/u-7"
    assert request.headers == {
        "Authorization": "Bearer s3cr3t/+ &x",
        "X-Count": "3",
        "Idempotency-Key": "wf-1:Call",
    }
    assert request.params == {"tag": ["a", "b"], "n": 12.5}
    assert masker.mask("Bearer s3cr3t/+ &x") == f"Bearer {MASK}"


def test_the_idempotency_header_can_be_renamed_overridden_or_left_out() -> None:
    masker = Masker()
    renamed = render_request(ENGINE, config(idempotency_header="X-Request-Id"), names(masker), "k")
    assert renamed.headers == {"X-Request-Id": "k"}
    own = render_request(
        ENGINE, config(headers={"idempotency-key": "mine"}), names(masker), "k"
    )  # any case: the step's own header wins
    assert own.headers == {"idempotency-key": "mine"}
    none = render_request(ENGINE, config(idempotency_header=None), names(masker), "k")
    assert none.headers == {}


def test_a_string_body_is_sent_as_rendered_text() -> None:
    xml = "<Order><Id>{{state.user_id}}</Id></Order>"
    request = render_request(ENGINE, config(body=xml), names(Masker()), "k")
    assert request.body == "<Order><Id>u-7</Id></Order>"


def test_a_missing_secret_or_variable_fails_the_render_naming_it() -> None:
    with pytest.raises(TemplateError, match="secret 'NOPE' is not set"):
        render_request(ENGINE, config(url="https://x.test/{{secrets.NOPE}}"), names(Masker()), "k")
    with pytest.raises(TemplateError, match="environment variable 'RUVON_NOT_SET_X' is not set"):
        render_request(ENGINE, config(url="{{env.RUVON_NOT_SET_X}}/a"), names(Masker()), "k")


def test_no_secrets_provider_is_a_clear_render_error() -> None:
    lookup = secrets_lookup(None, Masker())
    with pytest.raises(TemplateError, match="no secrets provider"):
        lookup["TOKEN"]


def test_secrets_are_looked_up_one_by_one_and_can_not_be_listed() -> None:
    vault = Vault(TOKEN="abc123")
    masker = Masker()
    lookup = secrets_lookup(vault, masker)
    assert ENGINE.render("{{ secrets['TOKEN'] }}", {"secrets": lookup}) == "abc123"
    assert ENGINE.render("{{ secrets }}", {"secrets": lookup}) == "<secrets>"
    with pytest.raises(TemplateError):
        ENGINE.render("{{ secrets._get('TOKEN') }}", {"secrets": lookup})
    with pytest.raises(TemplateError):
        ENGINE.render("{% for s in secrets %}{{ s }}{% endfor %}", {"secrets": lookup})
    assert vault.asked == ["TOKEN"]
    assert masker.mask("x abc123 y") == f"x {MASK} y"


def test_the_masker_knows_the_encoded_forms_of_a_secret() -> None:
    masker = Masker()
    masker.add('p@ss w/"q"')
    text = 'raw p@ss w/"q" url p%40ss%20w%2F%22q%22 plus p%40ss+w%2F%22q%22 json p@ss w/\\"q\\"'
    assert masker.mask(text) == f"raw {MASK} url {MASK} plus {MASK} json {MASK}"
    data = {'k p@ss w/"q"': ['p@ss w/"q"', 1, {"x": 'a p@ss w/"q"'}]}
    assert masker.scrub(data) == {f"k {MASK}": [MASK, 1, {"x": f"a {MASK}"}]}


def test_an_empty_masker_changes_nothing() -> None:
    masker = Masker()
    masker.add("")
    value = {"a": ["b"]}
    assert masker.scrub(value) is value
    assert masker.mask("text") == "text"


def test_the_environment_provider_reads_at_lookup_time_with_its_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = EnvironmentSecretsProvider(prefix="APP_SECRET_")
    assert isinstance(provider, SecretsProvider)
    assert provider.get("TOKEN") is None
    monkeypatch.setenv("APP_SECRET_TOKEN", "t1")
    monkeypatch.setenv("TOKEN", "not this one")
    assert provider.get("TOKEN") == "t1"
    monkeypatch.setenv("APP_SECRET_TOKEN", "t2")
    assert provider.get("TOKEN") == "t2"
    assert EnvironmentSecretsProvider().get("TOKEN") == "not this one"


def test_env_values_are_not_masked() -> None:
    masker = Masker()
    lookup = Lookup("environment variable", {"HOST": "svc"}.get)
    assert ENGINE.render("{{ env.HOST }}", {"env": lookup}) == "svc"
    assert not masker.values


def test_a_rendered_request_does_not_show_its_secrets_in_its_repr() -> None:
    masker = Masker()
    headers = {"Authorization": "Bearer {{secrets.TOKEN}}"}
    request = render_request(ENGINE, config(headers=headers), names(masker), "k")
    assert "s3cr3t" in request.headers["Authorization"]
    assert repr(request) == "<Request GET>"


# --- the URL: a value before the path as it is, after it as data --------------------------------


@pytest.mark.parametrize(
    ("url", "rendered"),
    [
        ("{{env.BASE}}/users/{{state.user_id}}", "http://svc:8080/api/users/u-7"),
        ("{{ env.BASE ~ '/a b' }}", "http://svc:8080/api/a b"),  # one value starts the URL
        ("https://{{env.HOST}}:{{env.PORT}}/x", "https://svc.test:8080/x"),
        ("https://svc.test/u/{{secrets.TOKEN}}", "https://svc.test/u/s3cr3t%2F%2B%20%26x"),
        (
            "https://svc.test/u?q={{secrets.TOKEN}}&n=1",
            "https://svc.test/u?q=s3cr3t%2F%2B%20%26x&n=1",
        ),
        ("https://svc.test/u#{{state.customer.n}}", "https://svc.test/u#Ann"),
        ("https://svc.test/{{ 'a#b?c=d&e/é%' }}", "https://svc.test/a%23b%3Fc%3Dd%26e%2F%C3%A9%25"),
        (
            "https://svc.test/x{% if state.amount > 10 %}/{{state.tags[0]}}{% endif %}",
            "https://svc.test/x/a",
        ),
        ("https://svc.test/{% for t in state.tags %}{{t}}/{% endfor %}", "https://svc.test/a/b/"),
        ("https://svc.test/plain", "https://svc.test/plain"),
    ],
)
def test_a_value_in_the_url_path_query_or_fragment_is_percent_encoded_as_data(
    monkeypatch: pytest.MonkeyPatch, url: str, rendered: str
) -> None:
    monkeypatch.setenv("BASE", "http://svc:8080/api")
    monkeypatch.setenv("HOST", "svc.test")
    monkeypatch.setenv("PORT", "8080")
    request = render_request(ENGINE, config(url=url), names(Masker()), "k")
    assert request.url == rendered


def test_a_template_error_in_the_url_quotes_the_url_as_written() -> None:
    with pytest.raises(TemplateError) as info:
        render_request(ENGINE, config(url="https://x.test/{{state.nope}}"), names(Masker()), "k")
    assert "'https://x.test/{{state.nope}}'" in str(info.value)
    assert "ruvon-url-value" not in str(info.value)


def test_the_masker_knows_a_secret_in_any_encoding_even_in_part() -> None:
    masker = Masker()
    secret = "k1#é z?&=/+%x"
    masker.add(secret)
    for shown in (
        "k1#%C3%A9%20z?&=/+%x",  # httpx: a fragment, encoded in part
        "k1%23%C3%A9+z%3F%26%3D%2F%2B%25x",  # query parameters, + for space
        "k1%23%c3%a9%20z%3f%26%3d%2f%2b%25x",  # percent-encoded in full, lowercase hex
        "k1%2523%25C3%25A9%2520z%253F%2526%253D%252F%252B%2525x",  # encoded twice
        "k1#\\u00e9 z?&=\\/+%x",  # JSON-escaped
        "K1#É Z?&=/+%X",  # another letter case
    ):
        assert masker.mask(f"<{shown}>") == f"<{MASK}>", shown
    assert masker.mask("k1#") == "k1#"  # a part alone is not the secret


def test_a_whole_url_kept_as_a_secret_is_masked_as_httpx_spells_it() -> None:
    masker = Masker()
    masker.add("https://Bücher.Example/hook/é?t=1")
    assert masker.mask("POST https://xn--bcher-kva.example/hook/%C3%A9?t=1 failed") == (
        f"POST {MASK} failed"
    )
