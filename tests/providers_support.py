"""Helpers shared by the provider adapter tests: calls, fixtures, stream feeding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.providers.base import Call

FIXTURES = Path(__file__).parent / "fixtures"


def make_call(provider: str, model: str, body: dict[str, Any] | None = None,
              **overrides: Any) -> Call:
    """A chat call with a key, as a deployment would make it, unless overridden."""
    fields: dict[str, Any] = {
        "endpoint": "chat",
        "provider": provider,
        "model": model,
        "body": body if body is not None else {
            "messages": [{"role": "user", "content": "Hi"}]},
        "api_key": "test-key",
        "requested_model": f"alias-{model}",
    }
    fields.update(overrides)
    return Call(**fields)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def awkward_chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    """The bytes in small pieces that split lines, JSON and UTF-8 characters."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def body_of(request: Any) -> Any:
    return json.loads(request.body)


def joined_content(chunks: list[dict]) -> str:
    return "".join(choice["delta"].get("content") or ""
                   for chunk in chunks for choice in chunk["choices"])


def joined_arguments(chunks: list[dict], index: int = 0) -> str:
    parts = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                if call["index"] == index:
                    parts.append(call["function"].get("arguments") or "")
    return "".join(parts)


def new_private_key_pem() -> str:
    """A throwaway RSA key in PEM, made at test time and never stored."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def service_account(pem: str, token_uri: str, **extra: Any) -> dict[str, Any]:
    """A Google service account key whose token endpoint is ``token_uri``."""
    return {"type": "service_account", "project_id": "key-project",
            "private_key_id": "kid-1", "private_key": pem,
            "client_email": "gateway@key-project.iam.gserviceaccount.com",
            "client_id": "123", "token_uri": token_uri, **extra}
