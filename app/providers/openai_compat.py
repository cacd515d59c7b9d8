"""OpenAI itself and every provider that speaks its wire format.

The body passes through nearly untouched: these upstreams take OpenAI's
shapes, so the adapter only sets ``model``, builds the URL from the provider's
versioned root and adds the bearer key. Errors keep the upstream's message and
``param``; only OpenAI's own codes decide the two special classes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from app import errors
from app.providers import sse
from app.providers.base import (
    Adapter,
    Call,
    HttpRequest,
    build_error,
    dumps,
    loads_or_none,
)

# prefix -> (default versioned root, environment variables holding a key)
DEFAULT_BASES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "openai": ("https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "fireworks_ai": (
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    ),
    "together_ai": (
        "https://api.together.xyz/v1",
        ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
    ),
    "groq": ("https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    "deepinfra": ("https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",)),
    "mistral": ("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    "deepseek": ("https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",)),
    "xai": ("https://api.x.ai/v1", ("XAI_API_KEY",)),
    "openrouter": ("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
    "perplexity": (
        "https://api.perplexity.ai",
        ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
    ),
    "nvidia_nim": ("https://integrate.api.nvidia.com/v1", ("NVIDIA_NIM_API_KEY",)),
    "cerebras": ("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
    "sambanova": ("https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",)),
    "codestral": ("https://codestral.mistral.ai/v1", ("CODESTRAL_API_KEY",)),
    "hosted_vllm": (None, ("HOSTED_VLLM_API_KEY",)),
    "lm_studio": ("http://localhost:1234/v1", ("LM_STUDIO_API_KEY",)),
    "ollama_chat": ("http://localhost:11434/v1", ()),
}

PATHS = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}

# OpenAI's own error codes for the two signals the router acts on.
_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter"})
_CONTEXT_TEXT = ("maximum context length", "context_length_exceeded")
_POLICY_TEXT = ("content management policy", "safety system")


def default_base(provider: str) -> str | None:
    entry = DEFAULT_BASES.get(provider)
    return entry[0] if entry else None


def environment_key(provider: str) -> str | None:
    """The provider's key from the gateway's environment, if one is set."""
    entry = DEFAULT_BASES.get(provider)
    for name in entry[1] if entry else ():
        value = os.environ.get(name)
        if value:
            return value
    return None


class OpenAICompatAdapter(Adapter):
    name = "openai"

    def build(self, call: Call) -> HttpRequest:
        base = call.api_base or default_base(call.provider)
        if not base:
            raise errors.InvalidRequest(
                f"Provider '{call.provider}' needs an api_base on the deployment.",
                param="model",
            )
        url = base.rstrip("/") + PATHS[call.endpoint]
        return HttpRequest("POST", url, self.headers(call), self.payload(call))

    def payload(self, call: Call) -> bytes:
        body = dict(call.body)
        body["model"] = call.model
        if call.stream:
            body["stream"] = True
        return dumps(body)

    def headers(self, call: Call) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = call.api_key
        if key is None and call.use_environment_credentials:
            key = environment_key(call.provider)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        organization = call.credentials.get("organization")
        if organization:
            headers["OpenAI-Organization"] = str(organization)
        headers.update(call.credentials.get("extra_headers") or {})
        return headers

    def parse(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> dict:
        payload = loads_or_none(content)
        if not isinstance(payload, dict):
            raise errors.BadGateway("The upstream answered with malformed JSON.",
                                    upstream_status=status)
        if "error" in payload and "choices" not in payload and "data" not in payload:
            raise self.error(call, 500, headers, content)
        return payload

    def stream(self, call: Call, raw: Iterator[bytes]) -> Iterator[dict]:
        for event in sse.events(raw):
            if event.data.strip() == "[DONE]":
                return
            chunk = loads_or_none(event.data.encode())
            if not isinstance(chunk, dict):
                raise errors.BadGateway("The upstream sent a malformed stream event.")
            if "error" in chunk:
                raise in_band_error(chunk)
            if chunk.get("choices") == [] and not chunk.get("usage"):
                continue  # Azure's prompt-filter preamble carries nothing to relay
            yield chunk

    def error(self, call: Call, status: int, headers: Mapping[str, str],
              content: bytes) -> errors.GatewayError:
        payload = loads_or_none(content)
        return build_error(classify(status, payload), payload, status, headers)


def classify(status: int, payload: object) -> type[errors.GatewayError]:
    """Pick the error class from OpenAI's codes, then from the status."""
    inner = payload.get("error") if isinstance(payload, dict) else None
    if status in (400, 403, 413, 422) and isinstance(inner, dict):
        code = str(inner.get("code") or "")
        inner_code = (inner.get("innererror") or {}).get("code") \
            if isinstance(inner.get("innererror"), dict) else None
        message = str(inner.get("message") or "").lower()
        if code in _CONTEXT_CODES or any(t in message for t in _CONTEXT_TEXT):
            return errors.ContextWindowExceeded
        if code in _POLICY_CODES or inner_code == "ResponsibleAIPolicyViolation" \
                or any(t in message for t in _POLICY_TEXT):
            return errors.ContentPolicyViolation
    return errors.class_for_upstream_status(status)


_IN_BAND_TYPES: dict[str, type[errors.GatewayError]] = {
    "overloaded_error": errors.ServiceUnavailable,
    "rate_limit_error": errors.RateLimited,
    "rate_limit_exceeded": errors.RateLimited,
    "invalid_request_error": errors.InvalidRequest,
    "authentication_error": errors.AuthenticationError,
}


def in_band_error(chunk: dict) -> errors.GatewayError:
    """The error an upstream reported inside a 200 stream."""
    inner = chunk.get("error")
    inner = inner if isinstance(inner, dict) else {"message": str(inner)}
    code = inner.get("code")
    cls = _IN_BAND_TYPES.get(str(inner.get("type")), errors.UpstreamServerError)
    if isinstance(code, int) and code >= 400:
        cls = errors.class_for_upstream_status(code)
    message = str(inner.get("message") or "The upstream stream reported an error.")
    return cls(message, upstream_status=code if isinstance(code, int) else None)


ADAPTER = OpenAICompatAdapter()
