"""Translating Google ``generateContent`` answers, whole or streamed, into OpenAI's.

Used by the Gemini and Vertex AI adapters. Each candidate becomes a choice;
text parts marked ``thought`` become ``reasoning_content``; each
``functionCall`` becomes a tool call whose id is made up (with the call's
thought signature inside, see :mod:`gemini_messages`). A prompt blocked before
any candidate answers with empty content and ``content_filter``. Streams
(``alt=sse``) carry whole tool calls per event, so each goes out as one
delta; their usage metadata is cumulative, so the last one counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import errors
from app.providers import gemini_messages, google_errors, openai_shapes, sse
from app.providers.base import Call, loads_or_none

_FILTERED = frozenset({
    "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
    "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE",
})


def finish_reason(reason: Any, has_calls: bool) -> str:
    """OpenAI's finish_reason; a STOP after function calls is ``tool_calls``."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def usage_block(meta: Mapping[str, Any]) -> dict:
    """OpenAI usage; thinking tokens count as completion tokens, as billed."""
    prompt = int(meta.get("promptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    total = meta.get("totalTokenCount")
    return openai_shapes.usage(prompt, completion,
                               int(total) if total is not None else None,
                               cached=int(meta.get("cachedContentTokenCount") or 0),
                               reasoning=thoughts)


@dataclass
class Parts:
    """The parts of one candidate, sorted by what OpenAI makes of them."""

    text: str = ""
    reasoning: str = ""
    calls: list[dict] = field(default_factory=list)


def sort_parts(candidate: Mapping[str, Any]) -> Parts:
    found = Parts()
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "functionCall" in part:
            function = part["functionCall"] or {}
            ident = gemini_messages.call_id(function, part.get("thoughtSignature"))
            arguments = gemini_messages.arguments_json(function.get("args"))
            found.calls.append(openai_shapes.tool_call(
                ident, function.get("name") or "", arguments))
        elif part.get("thought"):
            found.reasoning += part.get("text") or ""
        else:
            found.text += part.get("text") or ""
    return found


def choice(position: int, candidate: Mapping[str, Any]) -> dict:
    found = sort_parts(candidate)
    text = found.text if found.text or not found.calls else None
    message = openai_shapes.assistant_message(text, found.calls, found.reasoning)
    reason = finish_reason(candidate.get("finishReason"), bool(found.calls))
    return openai_shapes.choice(message, reason, candidate.get("index", position))


def chat_response(call: Call, payload: Mapping[str, Any]) -> dict:
    """A ``chat.completion`` from a ``generateContent`` answer; a prompt blocked
    before any candidate answers with empty content and ``content_filter``."""
    candidates = payload.get("candidates") or []
    choices = [choice(position, candidate)
               for position, candidate in enumerate(candidates)]
    if not choices:
        blocked = openai_shapes.assistant_message("", [])
        choices = [openai_shapes.choice(blocked, "content_filter")]
    return openai_shapes.chat_response(
        call, choices, usage_block(payload.get("usageMetadata") or {}))


def check_answer(payload: Mapping[str, Any]) -> None:
    """A 200 answer may still carry Google's error object; raise it."""
    if "error" in payload:
        raise google_errors.in_band_error(payload)


class StreamTranslator:
    """Turns the events of one ``streamGenerateContent?alt=sse`` stream into chunks."""

    def __init__(self, call: Call) -> None:
        self.chunks = openai_shapes.Chunks(call)
        self.started: set[int] = set()
        self.tool_counts: dict[int, int] = {}

    def run(self, raw: Iterable[bytes]) -> Iterator[dict]:
        for event in sse.events(raw):
            payload = google_errors.unwrap(loads_or_none(event.data.encode()))
            if not isinstance(payload, dict):
                raise errors.BadGateway("Google sent a malformed stream event.")
            check_answer(payload)
            yield from self.feed(payload)
        yield from self.chunks.close()

    def feed(self, payload: Mapping[str, Any]) -> Iterator[dict]:
        meta = payload.get("usageMetadata")
        if meta:
            self.chunks.tokens = usage_block(meta)
        candidates = payload.get("candidates") or []
        for position, candidate in enumerate(candidates):
            yield from self.candidate(candidate.get("index", position), candidate)
        if not candidates and (payload.get("promptFeedback") or {}).get(
                "blockReason"):
            yield from self.start(0)
            yield self.chunks.finish("content_filter")

    def start(self, index: int) -> Iterator[dict]:
        if index not in self.started:
            self.started.add(index)
            yield self.chunks.delta({"role": "assistant", "content": ""}, index=index)

    def candidate(self, index: int, candidate: Mapping[str, Any]) -> Iterator[dict]:
        yield from self.start(index)
        found = sort_parts(candidate)
        if found.reasoning:
            yield self.chunks.delta({"reasoning_content": found.reasoning},
                                    index=index)
        if found.text:
            yield self.chunks.delta({"content": found.text}, index=index)
        if found.calls:
            yield self.chunks.delta({"tool_calls": self.number(index, found.calls)},
                                    index=index)
        reason = candidate.get("finishReason")
        if reason:
            has_calls = self.tool_counts.get(index, 0) > 0
            yield self.chunks.finish(finish_reason(reason, has_calls), index)

    def number(self, index: int, calls: list[dict]) -> list[dict]:
        """Give each call its position among the candidate's tool calls."""
        first = self.tool_counts.get(index, 0)
        self.tool_counts[index] = first + len(calls)
        return [{"index": first + offset, **call} for offset, call in enumerate(calls)]


def embeddings_response(call: Call, payload: Mapping[str, Any],
                        texts: list[str]) -> dict:
    """OpenAI's embeddings answer from ``embedContent`` or ``batchEmbedContents``."""
    if "embedding" in payload:
        vectors = [payload["embedding"].get("values") or []]
    else:
        vectors = [item.get("values") or [] for item in payload.get("embeddings") or ()]
    if len(vectors) != len(texts):
        raise errors.BadGateway("Gemini answered a different number of embeddings.")
    meta = payload.get("usageMetadata") or {}
    tokens = meta.get("promptTokenCount") or openai_shapes.estimate_tokens(texts)
    return openai_shapes.embeddings(call, vectors, int(tokens))
