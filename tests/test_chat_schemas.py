"""The shapes of messages, tools, stop, prompt and input, and the body's depth."""

from __future__ import annotations

import pytest

from app import errors, schemas
from app.api import nested_deeper
from app.settings import Limits

LIMITS = Limits()
HI = [{"role": "user", "content": "hi"}]


def chat(**extra):
    return {"model": "m", "messages": HI, **extra}


def tool_call(function) -> dict:
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": function}]}


@pytest.mark.parametrize("endpoint, body, path", [
    ("chat", chat(messages=[7]), "messages[0]: Not a valid mapping type."),
    ("chat", chat(messages=[{"content": "hi"}]), "messages[0].role: Missing data"),
    ("chat", chat(messages=[{"role": "user", "content": 0}]),
     "messages[0].content: Expected a string, a list of content parts or null."),
    ("chat", chat(messages=[{"role": "user", "content": [{"text": "x"}]}]),
     "messages[0].content[0].type: Missing data"),
    ("chat", chat(messages=[{"role": "user", "content": [
        {"type": "text", "text": None}]}]), "messages[0].content[0].text:"),
    ("chat", chat(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"detail": "low"}}]}]),
     "messages[0].content[0].image_url: Expected a URL"),
    ("chat", chat(messages=[tool_call("get_weather")]),
     "messages[0].tool_calls[0].function: Not a valid mapping type."),
    ("chat", chat(messages=[tool_call({"arguments": "{}"})]),
     "messages[0].tool_calls[0].function.name: Missing data"),
    ("chat", chat(messages=[tool_call({"name": "f", "arguments": {"a": 1}})]),
     "messages[0].tool_calls[0].function.arguments: Not a valid string."),
    ("chat", chat(messages=[{"role": "tool", "tool_call_id": 5, "content": "r"}]),
     "messages[0].tool_call_id: Not a valid string."),
    ("chat", chat(tools=["get_weather"]), "tools[0]: Not a valid mapping type."),
    ("chat", chat(tools=[{"type": "function", "function": "f"}]),
     "tools[0].function: Not a valid mapping type."),
    ("chat", chat(tools=[{"type": "function", "function": {"parameters": {}}}]),
     "tools[0].function.name: Missing data"),
    ("chat", chat(stop={"at": "x"}), "stop: Expected a string or a list of strings."),
    ("chat", chat(stop=["x", 1]), "stop: Expected"),
    ("chat", chat(tool_choice=1), "tool_choice: Expected a string or an object."),
    ("chat", chat(response_format="json"), "response_format: Not a valid mapping"),
    ("completions", {"model": "m", "prompt": {"text": "x"}}, "prompt: Expected"),
    ("completions", {"model": "m", "prompt": [1, "x"]}, "prompt: Expected"),
    ("completions", {"model": "m", "prompt": "x", "stop": 3}, "stop: Expected"),
    ("embeddings", {"model": "m", "input": None}, "input: Field may not be null."),
    ("embeddings", {"model": "m", "input": [True]}, "input: Expected"),
    ("embeddings", {"model": "m", "input": [[1, "x"]]}, "input: Expected"),
])
def test_wrong_shapes_are_400s_naming_their_path(endpoint, body, path):
    with pytest.raises(errors.InvalidRequest) as raised:
        schemas.parse(endpoint, body, LIMITS)
    assert raised.value.message.startswith(path)
    assert raised.value.param == path.split(".")[0].split("[")[0].split(":")[0]


def test_valid_shapes_pass_with_unknown_keys_kept():
    messages = [
        {"role": "developer", "content": "be brief", "cache_control": {"x": 1}},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": "https://img.example/a.png"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]},
        tool_call({"name": "f", "arguments": '{"city": "Par'}),
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text",
                                                            "text": "sunny"}]},
        {"role": "assistant", "content": "done", "refusal": None},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}},
              "strict": True}, {"type": "web_search"}]
    parsed = schemas.parse("chat", chat(messages=messages, tools=tools, stop="x",
                                        tool_choice={"type": "function"}), LIMITS)
    assert parsed.forward["messages"] == messages
    assert parsed.forward["tools"] == tools


@pytest.mark.parametrize("value", ["x", ["a", "b"], [1, 2], [[1, 2], [3]], []])
def test_prompt_and_input_take_text_or_tokens(value):
    assert schemas.parse("embeddings", {"model": "m", "input": value},
                         LIMITS).forward["input"] == value
    assert schemas.parse("completions", {"model": "m", "prompt": value},
                         LIMITS).forward["prompt"] == value


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("value, limit, deeper", [
    ({"a": nested(3)}, 4, False),
    ({"a": nested(4)}, 4, True),
    ("flat", 1, False),
    ([{}, {"a": {"b": 1}}], 3, False),
    (nested(1000), 128, True),
])
def test_nesting_depth_is_measured_without_recursion(value, limit, deeper):
    assert nested_deeper(value, limit) is deeper
