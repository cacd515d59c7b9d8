"""Building Google ``generateContent`` and embedding request bodies.

Used by the Gemini and Vertex AI adapters. Sampling params go into
``generationConfig``; ``reasoning_effort`` becomes a ``thinkingConfig`` budget
(Gemini 2.5 budgets; Gemini 3 models accept them too). Pass-through params are
placed where Google wants them: a generation field (``top_k``, ``topK``,
``thinking_config``, ...) inside ``generationConfig``, anything else
(``safety_settings``, ``cachedContent``, ``labels``, ...) at the top level, in
the REST API's camelCase spelling.

Refused, or dropped under drop_params: every OpenAI param outside HANDLED:
``logprobs``/``top_logprobs`` (their answers are not translated back),
``logit_bias``, ``parallel_tool_calls: false``, and OpenAI-only features
(audio output, predictions, web search, legacy ``functions``,
``service_tier``, ``store``). ``user`` is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app import errors
from app.providers import gemini_messages
from app.providers.base import Call
from app.providers.openai_request import (
    asked,
    embedding_inputs,
    max_tokens,
    passthrough,
    requested,
    stop_list,
)

HANDLED = frozenset({
    "messages", "temperature", "top_p", "n", "seed", "presence_penalty",
    "frequency_penalty", "stop", "max_tokens", "max_completion_tokens", "tools",
    "tool_choice", "response_format", "reasoning_effort",
})

# OpenAI param -> generationConfig field, for params that map one to one.
_GENERATION_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}

# generationConfig fields a client may pass through by name.
GENERATION_FIELDS = frozenset({
    "topK", "thinkingConfig", "responseModalities", "mediaResolution",
    "speechConfig", "responseSchema", "responseJsonSchema", "responseMimeType",
    "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "imageConfig",
    "stopSequences", "maxOutputTokens", "candidateCount", "seed", "topP",
    "temperature", "presencePenalty", "frequencyPenalty", "audioTimestamp",
})

THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192,
                    "high": 24576}


def camel(name: str) -> str:
    """The REST API's spelling of a field: ``safety_settings`` -> ``safetySettings``."""
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), name)


def request_body(call: Call) -> dict:
    """The ``generateContent`` body for a chat ``call``."""
    requested(call, HANDLED)
    system, contents = gemini_messages.translate(call)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = system
    body.update(gemini_messages.tool_fields(call))
    config = generation_config(call)
    for key, value in passthrough(call).items():
        place(camel(key), value, body, config)
    if config:
        body["generationConfig"] = config
    return body


def place(name: str, value: Any, body: dict, config: dict) -> None:
    """Put one pass-through param where Google reads it."""
    if name == "generationConfig" and isinstance(value, Mapping):
        config.update(value)
    elif name in GENERATION_FIELDS:
        config[name] = value
    else:
        body[name] = value


def generation_config(call: Call) -> dict:
    body = call.body
    config = {field: body[name] for name, field in _GENERATION_PARAMS.items()
              if asked(body, name)}
    limit = max_tokens(body)
    if limit:
        config["maxOutputTokens"] = limit
    stops = stop_list(body)
    if stops:
        config["stopSequences"] = stops
    config.update(response_format(body.get("response_format")))
    config.update(thinking(body.get("reasoning_effort")))
    return config


def response_format(fmt: Any) -> dict:
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if fmt is None or kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    spec = fmt.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        raise errors.InvalidRequest("response_format must be text, json_object, "
                                    "or json_schema with a schema.",
                                    param="response_format")
    return {"responseMimeType": "application/json", "responseJsonSchema": schema}


def thinking(effort: Any) -> dict:
    if effort is None:
        return {}
    if effort not in THINKING_BUDGETS:
        raise errors.InvalidRequest(f"Unknown reasoning_effort '{effort}'.",
                                    param="reasoning_effort")
    return {"thinkingConfig": {"thinkingBudget": THINKING_BUDGETS[effort]}}


def embed_options(call: Call) -> dict:
    """``dimensions`` and the pass-through embedding fields (``task_type``...)."""
    options = {camel(key): value for key, value in passthrough(call).items()}
    if call.body.get("dimensions") is not None:
        options["outputDimensionality"] = call.body["dimensions"]
    return options


def embed_request(call: Call, model: str) -> tuple[str, dict]:
    """The Gemini embedding method and body: one text, or a batch for a list."""
    texts = embedding_inputs(call)
    options = embed_options(call)
    if isinstance(call.body.get("input"), str):
        return "embedContent", {"content": {"parts": [{"text": texts[0]}]},
                                **options}
    requests = [{"model": f"models/{model}", "content": {"parts": [{"text": text}]},
                 **options} for text in texts]
    return "batchEmbedContents", {"requests": requests}
