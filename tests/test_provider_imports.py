"""botocore and google-auth load only when a deployment needs them.

Each check runs in a fresh interpreter, so what other tests imported cannot
hide an eager import: the child builds the app, serves one chat through a
loopback fake of the provider, and prints which heavy modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.gateway_proc import REPO_ROOT

CHILD = """
import json, sys
from tests.fakes import FakeUpstream
from app import create_app
from app.config import build

params, reply = json.loads(sys.argv[1]), json.loads(sys.argv[2])
with FakeUpstream("provider") as fake:
    fake.script({"json": reply})
    params["api_base"] = params["api_base"].replace("FAKE", fake.base)
    config = build({"model_list": [{"model_name": "m", "litellm_params": params}]})
    client = create_app(config=config).test_client()
    answer = client.post("/v1/chat/completions", json={
        "model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
heavy = [name for name in sys.modules
         if name.split(".")[0] in ("botocore", "boto3")
         or name.startswith(("google.auth", "google.oauth2"))]
print(json.dumps(sorted(heavy)))
"""

OPENAI_REPLY = {"id": "c", "object": "chat.completion", "created": 1, "model": "x",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "hi"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                          "total_tokens": 2}}
ANTHROPIC_REPLY = {"type": "message", "role": "assistant", "stop_reason": "end_turn",
                   "content": [{"type": "text", "text": "hi"}],
                   "usage": {"input_tokens": 1, "output_tokens": 1}}
CONVERSE_REPLY = {"output": {"message": {"role": "assistant",
                                         "content": [{"text": "hi"}]}},
                  "stopReason": "end_turn",
                  "usage": {"inputTokens": 1, "outputTokens": 1}}


def heavy_modules_after_serving(params: dict, reply: dict) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(params), json.dumps(reply)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("params, reply", [
    ({"model": "openai/gpt-4o-mini", "api_key": "sk-x", "api_base": "FAKE/v1"},
     OPENAI_REPLY),
    ({"model": "anthropic/claude-sonnet-4-5", "api_key": "k", "api_base": "FAKE"},
     ANTHROPIC_REPLY),
])
def test_light_providers_load_neither(params, reply):
    assert heavy_modules_after_serving(params, reply) == []


def test_a_bedrock_deployment_loads_botocore_only():
    params = {"model": "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
              "api_base": "FAKE", "aws_region_name": "us-east-1",
              "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "s"}
    heavy = heavy_modules_after_serving(params, CONVERSE_REPLY)
    assert "botocore.auth" in heavy
    assert not any(name.startswith("google") for name in heavy)
