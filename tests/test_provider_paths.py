"""A model name is one URL path segment for every provider that puts it in
the path: dot-only names included, so the path cannot shift upstream."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.providers import adapter_for
from app.providers.base import Call, path_segment

CREDENTIALS = {
    "azure": {},
    "gemini": {},
    "bedrock": {"aws_access_key_id": "AKIDEXAMPLE", "aws_region_name": "us-east-1",
                "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
}
EXPECTED_PREFIX = {
    "azure": "/openai/deployments/",
    "gemini": "/v1beta/models/",
    "bedrock": "/model/",
}


@pytest.mark.parametrize("name, segment", [
    (".", "%2E"), ("..", "%2E%2E"), ("...", "%2E%2E%2E"), ("a.b", "a.b"),
    ("../x?y#z", "..%2Fx%3Fy%23z"), ("%2e", "%252e"), ("a/b", "a%2Fb"),
])
def test_path_segment(name, segment):
    assert path_segment(name) == segment


@pytest.mark.parametrize("provider", sorted(CREDENTIALS))
@pytest.mark.parametrize("model", [".", "..", "../../admin", "x?y=1"])
def test_the_model_never_leaves_its_segment(provider, model):
    base = {"azure": "https://r.example", "gemini": None, "bedrock": None}[provider]
    call = Call(endpoint="chat", provider=provider, model=model,
                body={"messages": [{"role": "user", "content": "hi"}]},
                api_base=base, api_key="k-123456", credentials=CREDENTIALS[provider],
                use_environment_credentials=False, requested_model="m")
    url = urlsplit(adapter_for(provider).build(call).url)
    prefix = EXPECTED_PREFIX[provider]
    assert url.path.startswith(prefix)
    segment = url.path[len(prefix):].split("/", 1)[0].split(":", 1)[0]
    assert segment == path_segment(model)
    assert "/./" not in url.path and "/../" not in url.path
    assert not url.path.endswith(("/.", "/.."))


@pytest.mark.parametrize("model, segment", [("..", "%2E%2E"), (".", "%2E")])
def test_dot_segments_stay_encoded_on_the_wire(model, segment):
    """What the upstream receives, not only what the adapter builds: the HTTP
    client must not decode the escaped dots back into path segments."""
    from app.dispatcher import Dispatcher, Target, Timeouts
    from tests.fakes import FakeUpstream, chat_ok

    with FakeUpstream("AZ") as fake:
        fake.script({"json": chat_ok("ok")})
        call = Call(endpoint="chat", provider="azure", model=model,
                    body={"messages": [{"role": "user", "content": "hi"}]},
                    api_base=fake.base, api_key="k-123456", api_version="2024-10-21",
                    use_environment_credentials=False, requested_model="m")
        Dispatcher().send(call, Target(), Timeouts(total=5, stream=5))
        (received,) = fake.calls
    assert received.path == f"/openai/deployments/{segment}/chat/completions"
