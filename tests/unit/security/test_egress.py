from __future__ import annotations

import pytest

from echo_orchestrator.errors import EgressRefused
from echo_orchestrator.security.egress import EgressPolicy


def test_only_allowed_prefixes_on_segment_boundaries() -> None:
    policy = EgressPolicy(["http://127.0.0.1:11434", "https://llm.example.com/v1"], environ={})
    assert policy.allows("http://127.0.0.1:11434/v1")
    assert policy.allows("https://llm.example.com/v1/") and policy.allows("https://LLM.example.com:443/v1/chat")
    assert not policy.allows("http://127.0.0.1:114345/v1")  # another port
    assert not policy.allows("https://llm.example.com/v10")  # not below /v1
    assert not policy.allows("https://llm.example.com.evil.example/v1")
    assert not policy.allows("http://llm.example.com/v1")  # another scheme
    assert not policy.allows("https://user:pw@llm.example.com/v1")  # credentials in a URL: never
    assert not policy.allows("ftp://llm.example.com/v1") and not policy.allows("not a url")


def test_operator_variables_and_plugin_prefixes_are_allowed() -> None:
    policy = EgressPolicy([], environ={"OPENAI_BASE_URL": "http://gpu-box:8000/v1"})
    assert policy.allows("http://gpu-box:8000/v1")
    assert not policy.allows("http://other:8000/v1")
    assert policy.allows("https://plugin.example/api", extra=["https://plugin.example"])


@pytest.mark.parametrize(
    "params",
    [
        {"base_url": "http://x"},
        {"openai_api_base": "http://x"},
        {"default_headers": {"a": "b"}},
        {"http_client": None},
        {"api_key": "k"},
        {"model_kwargs": {"extra_body": {}}},
        {"anthropic_api_url": "http://x"},
    ],
)
def test_params_that_move_a_request_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy([], environ={}).check(None, params)
    assert refused.value.field.startswith("llm.params.")


def test_ordinary_params_pass() -> None:
    EgressPolicy([], environ={}).check(None, {"top_p": 0.9, "stop": ["x"], "max_tokens": 5, "top_k": 3, "seed": 1})
    with pytest.raises(EgressRefused, match="ECHO_LLM_ALLOWED_BASE_URLS"):
        EgressPolicy([], environ={}).check("http://127.0.0.1:1/v1", {})
