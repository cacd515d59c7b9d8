"""Helpers for the providers' end-to-end tests: the real gateway under gunicorn,
driven by the OpenAI SDK, in front of a loopback fake of one provider's API."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

from tests.gateway_proc import GatewayProcess

MASTER_KEY = "sk-gateway-test-master"


def operator_config(models: dict[str, dict[str, Any]],
                    **litellm_settings: Any) -> dict[str, Any]:
    """An operator config: each model name served by one deployment."""
    config: dict[str, Any] = {
        "model_list": [{"model_name": name, "litellm_params": params}
                       for name, params in models.items()],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    if litellm_settings:
        config["litellm_settings"] = litellm_settings
    return config


def one_model_config(model_name: str, litellm_params: dict[str, Any],
                     **litellm_settings: Any) -> dict[str, Any]:
    return operator_config({model_name: litellm_params}, **litellm_settings)


def sdk(gateway: GatewayProcess) -> OpenAI:
    """The OpenAI SDK pointed at the gateway, never retrying on its own."""
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0,
                  timeout=20)


def streamed(client: OpenAI, **request: Any) -> list[Any]:
    """Every chunk of a streamed chat, asking for the usage chunk at the end."""
    with client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **request) as stream:
        return list(stream)


def check_stream(chunks: list[Any]) -> str:
    """One id and ``created`` throughout, usage last; returns the joined text."""
    assert len({chunk.id for chunk in chunks}) == 1
    assert len({chunk.created for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == \
        last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(chunk.usage is None for chunk in body)
    finishes = [chunk.choices[0].finish_reason for chunk in body
                if chunk.choices[0].finish_reason]
    assert len(finishes) == 1
    return "".join(chunk.choices[0].delta.content or "" for chunk in body)


def assert_secret_kept(gateway: GatewayProcess, *secrets: str) -> None:
    """None of ``secrets`` reached the gateway's log."""
    log = gateway.log_text()
    for secret in secrets:
        assert secret not in log
