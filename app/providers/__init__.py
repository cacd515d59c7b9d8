"""The provider registry: a provider prefix names the adapter that speaks for it.

Adapters are imported the first time a deployment needs them, so a gateway
that serves no Bedrock or Vertex model never loads botocore or google-auth.
"""

from __future__ import annotations

import importlib

from app.providers.base import Adapter

# provider prefix -> "module:attribute" of its adapter instance
_ADAPTERS: dict[str, str] = {
    "openai": "app.providers.openai_compat:ADAPTER",
    "azure": "app.providers.azure:ADAPTER",
    "mock": "app.providers.mock:ADAPTER",
    "anthropic": "app.providers.anthropic:ADAPTER",
    "gemini": "app.providers.gemini:ADAPTER",
    "vertex_ai": "app.providers.vertex:ADAPTER",
    "bedrock": "app.providers.bedrock:ADAPTER",
    "cohere": "app.providers.cohere:ADAPTER",
    "ollama": "app.providers.ollama:ADAPTER",
}

_loaded: dict[str, Adapter] = {}


def openai_compatible_prefixes() -> frozenset[str]:
    from app.providers.openai_compat import DEFAULT_BASES

    return frozenset(DEFAULT_BASES)


def default_base(provider: str) -> str | None:
    """The default base of a provider that has a fixed one, else None.

    Providers whose host comes from a region or location (Vertex, Bedrock)
    and those with a fixed public API host built into their adapter return
    None here.
    """
    if provider == "ollama":
        return "http://localhost:11434"
    from app.providers.openai_compat import default_base as compat_base

    return compat_base(provider) if provider in openai_compatible_prefixes() else None


def known(provider: str) -> bool:
    return provider in _ADAPTERS or provider in openai_compatible_prefixes()


def adapter_for(provider: str) -> Adapter:
    """The adapter for ``provider``; every OpenAI-compatible prefix shares one."""
    adapter = _loaded.get(provider)
    if adapter is not None:
        return adapter
    target = _ADAPTERS.get(provider)
    if target is None:
        target = _ADAPTERS["openai"]
    module_name, _, attribute = target.partition(":")
    adapter = getattr(importlib.import_module(module_name), attribute)
    _loaded[provider] = adapter
    return adapter
