"""The shapes of OpenAI's messages, tools and inputs, checked before any adapter.

Translating adapters read these structures key by key, so a message that is
a number, a tool call whose ``function`` is a string or a ``stop`` that is an
object would otherwise fail inside an adapter as a 500. Here each is a 400
naming its path. Only types are checked: unknown keys pass (``INCLUDE``:
new OpenAI keys reach the provider), and what only the upstream can judge
(a model name, tool-call arguments that are not valid JSON) is left to the
upstream, whose 400 the gateway relays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields


class Shape(Schema):
    class Meta:
        unknown = INCLUDE

    error_messages = {"type": "Not a valid mapping type."}


class Typed(fields.Field):
    """A value of one of a few JSON types; booleans never count as numbers."""

    def __init__(self, *kinds: type, describe: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kinds, self.describe = kinds, describe

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not self.fits(value):
            raise ValidationError(f"Expected {self.describe}.")
        return value

    def fits(self, value: Any) -> bool:
        return isinstance(value, self.kinds) and not isinstance(value, bool)


class Stop(Typed):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(str, list, describe="a string or a list of strings",
                         **kwargs)

    def fits(self, value: Any) -> bool:
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))


class TextOrTokens(Typed):
    """``prompt`` and ``input``: text, texts, token ids or lists of token ids."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(str, list, describe="a string, a list of strings, a list "
                         "of token ids or a list of such lists", **kwargs)

    def fits(self, value: Any) -> bool:
        if isinstance(value, str):
            return True
        return isinstance(value, list) and (
            all(isinstance(v, str) for v in value) or all_ints(value)
            or all(isinstance(v, list) and all_ints(v) for v in value))


def all_ints(values: list) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


class ImageUrl(fields.Field):
    """``image_url``: a URL string or ``{"url": ...}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        url = value.get("url") if isinstance(value, Mapping) else value
        if not isinstance(url, str):
            raise ValidationError("Expected a URL or an object with a 'url'.")
        return value


class ContentPart(Shape):
    type = fields.String(required=True)
    text = fields.String()
    image_url = ImageUrl()


PART = ContentPart()


class Content(fields.Field):
    """Message content: text, a list of typed parts, or null."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise ValidationError("Expected a string, a list of content parts or null.")
        faults = {}
        for index, item in enumerate(value):
            try:
                PART.load(item)
            except ValidationError as error:
                faults[index] = error.messages
        if faults:
            raise ValidationError(faults)
        return value


class FunctionCall(Shape):
    name = fields.String(required=True)
    arguments = fields.String()


class ToolCall(Shape):
    id = fields.String()
    type = fields.String()
    function = fields.Nested(FunctionCall, required=True)


class Message(Shape):
    role = fields.String(required=True)
    content = Content(allow_none=True)
    name = fields.String()
    tool_calls = fields.List(fields.Nested(ToolCall), allow_none=True)
    tool_call_id = fields.String()
    function_call = fields.Nested(FunctionCall, allow_none=True)


class FunctionDefinition(Shape):
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    parameters = fields.Dict(allow_none=True)


class Tool(Shape):
    type = fields.String(required=True)
    function = fields.Nested(FunctionDefinition)
