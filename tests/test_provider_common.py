"""What every translating adapter shares: the registry hands out the module's
adapter, and dropping an unsupported param is logged by name, never with a key."""

from __future__ import annotations

import importlib
import logging

import pytest

from app.providers import adapter_for
from app.providers.base import Call

HELLO = [{"role": "user", "content": "hello"}]
SECRET = "sk-test-SECRET-1"

# provider -> (module, extra Call settings it needs to build)
ADAPTERS = {
    "anthropic": ("app.providers.anthropic", {}),
    "cohere": ("app.providers.cohere", {}),
    "ollama": ("app.providers.ollama", {}),
    "bedrock": ("app.providers.bedrock", {"credentials": {
        "aws_access_key_id": "AKIDEXAMPLE", "aws_region_name": "us-east-1",
        "aws_secret_access_key": SECRET}}),
}


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_registry_hands_out_the_modules_adapter(provider):
    module = importlib.import_module(ADAPTERS[provider][0])
    assert adapter_for(provider) is module.ADAPTER


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_a_dropped_param_is_logged_by_name_and_no_key_is(provider, caplog):
    extra = ADAPTERS[provider][1]
    call = Call(endpoint="chat", provider=provider, model="some-model",
                body={"messages": HELLO, "n": 2}, api_key=SECRET,
                drop_params=True, requested_model="m",
                use_environment_credentials=False, **extra)
    with caplog.at_level(logging.DEBUG):
        adapter_for(provider).build(call)
    assert "dropping n" in caplog.text
    assert "SECRET" not in caplog.text
