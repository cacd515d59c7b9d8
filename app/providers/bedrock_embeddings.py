"""Embeddings on Bedrock through InvokeModel, for Titan and Cohere models.

Titan text models embed one ``inputText`` per call. One attempt is one HTTP
exchange, so a list of several texts is refused with a 400 rather than looped
over; the client sends them one per request (or uses a Cohere model, which
takes up to 96 texts at once). ``dimensions`` becomes Titan's ``dimensions``
or Cohere's ``output_dimension`` (Embed v4 only; v3 has a fixed size and says
so itself). Other embedding families are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers.base import Call
from app.providers.openai_request import embedding_inputs, passthrough, requested
from app.providers.openai_shapes import embeddings
from app.providers.translating import header

HANDLED = frozenset({"input", "dimensions", "encoding_format"})


def family(model: str) -> str:
    """``titan`` or ``cohere``, also for inference-profile ids and ARNs."""
    if "amazon.titan-embed" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    raise errors.InvalidRequest(
        "Bedrock embeddings support Titan (amazon.titan-embed-*) and Cohere "
        "(cohere.embed-*) models.",
        param="model",
    )


def embeddings_body(call: Call) -> dict[str, Any]:
    params = requested(call, HANDLED)
    texts = embedding_inputs(call)
    if family(call.model) == "titan":
        body = titan_body(call, texts, params)
    else:
        body = {"texts": texts, "input_type": "search_document"}
        if "dimensions" in params:
            body["output_dimension"] = params["dimensions"]
    body.update(passthrough(call))
    return body


def titan_body(call: Call, texts: list[str], params: Mapping[str, Any]) -> dict:
    if len(texts) != 1:
        raise errors.InvalidRequest(
            "Titan embeds one text per request: send a single string, or one "
            "request per text.",
            param="input",
        )
    body: dict[str, Any] = {"inputText": texts[0]}
    if "dimensions" in params:
        body["dimensions"] = params["dimensions"]
    return body


def parse_embeddings(call: Call, payload: Mapping[str, Any],
                     headers: Mapping[str, str]) -> dict[str, Any]:
    vectors: Any
    if family(call.model) == "titan":
        vectors = [payload.get("embedding")]
        tokens = payload.get("inputTextTokenCount")
    else:
        found = payload.get("embeddings")
        vectors = found.get("float") if isinstance(found, Mapping) else found
        tokens = header(headers, "x-amzn-bedrock-input-token-count")
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise errors.BadGateway("Bedrock answered with no embeddings.")
    count = int(str(tokens)) if str(tokens).isdigit() else 0
    return embeddings(call, vectors, count)
