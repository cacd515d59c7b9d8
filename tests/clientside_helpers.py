"""Shared pieces of the clientside-credentials end-to-end tests.

Requests go out in the two forms the feature page shows: the OpenAI Python
SDK with ``extra_body``, and the JS form, where the same keys sit at the top
level of the JSON body (sent here with ``requests``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import requests

MASTER_KEY = "sk-proxy-test"
MESSAGES = [{"role": "user", "content": "this is a test request, write a short poem"}]
FORMS = ("python-sdk", "js-body")


@dataclass
class Answer:
    status: int
    json: Any
    headers: dict[str, str]
    text: str


def sdk_client(url: str) -> openai.OpenAI:
    """The SDK as a client would set it up, minus retries and proxy settings."""
    return openai.OpenAI(
        api_key=MASTER_KEY, base_url=f"{url}/v1", max_retries=0,
        http_client=httpx2.Client(trust_env=False, timeout=30.0))


def send(form: str, url: str, model: str, params: dict[str, Any],
         **options: Any) -> Answer:
    """One chat completion in the given form; errors come back as answers."""
    if form == "python-sdk":
        return send_sdk(url, model, params, **options)
    return send_json(url, {"model": model, "messages": MESSAGES, **params,
                           **options})


def send_sdk(url: str, model: str, params: dict[str, Any], **options: Any
             ) -> Answer:
    with sdk_client(url) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=MESSAGES, extra_body=params, **options)
        except openai.APIStatusError as error:
            response = error.response
            return Answer(response.status_code, response.json(),
                          dict(response.headers), response.text)
        response = raw.http_response
        raw.parse()  # the SDK accepts the answer as a chat completion
        return Answer(response.status_code, response.json(), dict(response.headers),
                      response.text)


def send_json(url: str, body: dict[str, Any], path: str = "/v1/chat/completions",
              headers: dict[str, str] | None = None,
              query: dict[str, str] | None = None) -> Answer:
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(
            f"{url}{path}", json=body, params=query, timeout=30,
            headers=headers or {"Authorization": f"Bearer {MASTER_KEY}"})
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return Answer(response.status_code, payload, dict(response.headers),
                  response.text)


def assert_refused(answer: Answer, param: str) -> None:
    """A 400 in OpenAI's error shape, naming ``param``."""
    assert answer.status == 400, answer.text
    error = answer.json["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def content(answer: Answer) -> str:
    assert answer.status == 200, answer.text
    return answer.json["choices"][0]["message"]["content"]
