"""Azure OpenAI: OpenAI's body, Azure's URL, version query and key header.

The deployment name goes into the path as one percent-encoded segment, and the
version into the query exactly once, so neither can add path segments or
query parameters of its own.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from app import errors
from app.providers.base import Call, HttpRequest, path_segment
from app.providers.openai_compat import PATHS, OpenAICompatAdapter

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAICompatAdapter):
    name = "azure"

    def build(self, call: Call) -> HttpRequest:
        base = call.api_base
        if base is None and call.use_environment_credentials:
            base = os.environ.get("AZURE_API_BASE")
        if not base:
            raise errors.InvalidRequest(
                "Azure deployments need an api_base (the resource endpoint).",
                param="model",
            )
        url = self.url(base, call)
        return HttpRequest("POST", url, self.headers(call), self.payload(call))

    def url(self, base: str, call: Call) -> str:
        version = call.api_version
        if version is None and call.use_environment_credentials:
            version = os.environ.get("AZURE_API_VERSION")
        deployment = path_segment(call.model)
        return (
            f"{base.rstrip('/')}/openai/deployments/{deployment}"
            f"{PATHS[call.endpoint]}?api-version="
            f"{quote(version or DEFAULT_API_VERSION, safe='')}"
        )

    def headers(self, call: Call) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        token = call.credentials.get("azure_ad_token")
        key = call.api_key
        if key is None and token is None and call.use_environment_credentials:
            key = os.environ.get("AZURE_API_KEY") or \
                os.environ.get("AZURE_OPENAI_API_KEY")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif key:
            headers["api-key"] = key
        headers.update(call.credentials.get("extra_headers") or {})
        return headers


ADAPTER = AzureAdapter()
