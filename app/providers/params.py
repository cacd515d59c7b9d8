"""What a translating adapter does with the OpenAI params its provider lacks.

A param the provider cannot honour is refused with a 400 naming it, unless the
deployment or the request set ``drop_params``: then it is dropped and logged.
A few values ask for nothing beyond the default (``n: 1``, a zero penalty,
``logprobs: false``) and never count as asking for the param. Hints that only
help OpenAI's own abuse tracking and caching (``user`` where the provider has
no such field, ``safety_identifier``, ``prompt_cache_key``) are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from app import errors
from app.providers.base import OPENAI_PARAMS, Call

logger = logging.getLogger(__name__)

# Values that ask for the default behaviour and so need no support.
_NEUTRAL: dict[str, Any] = {
    "n": 1, "presence_penalty": 0, "frequency_penalty": 0, "logprobs": False,
    "parallel_tool_calls": True, "store": False, "echo": False, "best_of": 1,
    "suffix": "",
}


def asked(body: Mapping[str, Any], name: str) -> bool:
    """True when the body sets ``name`` to something beyond the default."""
    value = body.get(name)
    if value is None:
        return False
    return name not in _NEUTRAL or value != _NEUTRAL[name]


def refuse(call: Call, name: str, message: str | None = None) -> None:
    """Refuse ``name`` with a 400, or let it be dropped under drop_params."""
    if call.drop_params:
        logger.debug("dropping param %s for provider %s", name, call.provider)
        return
    message = message or (
        f"The '{name}' parameter is not supported by provider '{call.provider}'.")
    raise errors.UnsupportedParam(
        f"{message} Set drop_params to drop it instead.", param=name)


def refuse_all(call: Call, names: Iterable[str]) -> None:
    """Refuse (or drop) every param of ``names`` that the body asks for."""
    for name in names:
        if asked(call.body, name):
            refuse(call, name)


def passthrough(call: Call) -> dict[str, Any]:
    """The provider-specific params of the body: every key OpenAI does not own."""
    own = OPENAI_PARAMS[call.endpoint]
    return {key: value for key, value in call.body.items() if key not in own}


def max_output_tokens(body: Mapping[str, Any]) -> int | None:
    """The client's output limit, preferring the newer name when both are set."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise errors.InvalidRequest(
                    f"'{name}' must be a positive integer.", param=name)
            return value
    return None


def stop_list(body: Mapping[str, Any]) -> list[str]:
    """``stop`` as a list, whichever of its two OpenAI forms the client used."""
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise errors.InvalidRequest("'stop' must be a string or a list of strings.",
                                param="stop")
