"""Bedrock end to end: Converse, ConverseStream's binary event stream, Titan
embeddings, each request SigV4-signed with the deployment's AWS keys.

The fake Bedrock checks nothing itself; the test recomputes the signature
with botocore from what the fake received (method, path, the signed headers,
the exact body bytes), so a body changed after signing, a wrong region or a
wrong path would all fail here.
"""

from __future__ import annotations

from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e_support import (
    assert_secret_kept,
    check_stream,
    operator_config,
    sdk,
    streamed,
)
from tests.eventstream import event
from tests.fake_calls import Call

ACCESS_KEY = "AKIDE2EEXAMPLE"
SECRET_KEY = "bedrock-e2e-SECRET-5"
SESSION_TOKEN = "bedrock-e2e-session-SECRET-6"
REGION = "eu-west-3"
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
USER = {"role": "user", "content": "Say hello."}

CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant",
                           "content": [{"text": "Bonjour !"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 9, "outputTokens": 3, "totalTokens": 12},
    "metrics": {"latencyMs": 12},
}
CONVERSE_STREAM = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Bon"}}),
    event("contentBlockDelta", {"contentBlockIndex": 0,
                                "delta": {"text": "jour !"}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event("messageStop", {"stopReason": "end_turn"}),
    event("metadata", {"usage": {"inputTokens": 9, "outputTokens": 3,
                                 "totalTokens": 12}, "metrics": {"latencyMs": 7}}),
]


def signature_is_valid(call: Call, base: str) -> bool:
    """Recompute the SigV4 signature over what arrived, with botocore."""
    authorization = call.headers["authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: call.headers[name] for name in signed if name != "host"}
    request = AWSRequest(method=call.method, url=base + call.path, data=call.body,
                         headers=headers)
    request.context["timestamp"] = call.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN),
                       "bedrock", REGION)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request)
    return authorization.endswith(f"Signature={expected}")


def test_bedrock(make_gateway, fake_upstream):
    claude_path = f"/model/{quote(CLAUDE, safe='')}"
    fake_upstream.script_path(f"{claude_path}/converse", {"json": CONVERSE_ANSWER})
    fake_upstream.script_path(f"{claude_path}/converse-stream", {
        "raw_chunks": CONVERSE_STREAM,
        "headers": {"Content-Type": "application/vnd.amazon.eventstream"}})
    fake_upstream.script_path("/invoke", {"json": {"embedding": [0.5, -0.5],
                                                   "inputTextTokenCount": 3}})
    keys = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
            "aws_session_token": SESSION_TOKEN, "aws_region_name": REGION,
            "api_base": fake_upstream.base}
    gateway = make_gateway(operator_config({
        "claude": {"model": f"bedrock/{CLAUDE}", **keys},
        "titan": {"model": f"bedrock/{TITAN}", **keys},
    }), env={"AWS_EC2_METADATA_DISABLED": "true"})
    with sdk(gateway) as client:
        answer = client.chat.completions.create(
            model="claude", messages=[{"role": "system", "content": "Be brief."},
                                      USER], max_tokens=64, stop=["END"])
        assert answer.choices[0].message.content == "Bonjour !"
        assert answer.usage.total_tokens == 12
        chunks = streamed(client, model="claude", messages=[USER])
        assert check_stream(chunks) == "Bonjour !"
        assert chunks[-1].usage.prompt_tokens == 9
        vectors = client.embeddings.create(model="titan", input="a")
        assert vectors.data[0].embedding == [0.5, -0.5]
        assert vectors.usage.prompt_tokens == 3

    whole, stream, embed = fake_upstream.calls
    assert whole.path == f"{claude_path}/converse"
    assert stream.path == f"{claude_path}/converse-stream"
    assert embed.path == f"/model/{quote(TITAN, safe='')}/invoke"
    for call in (whole, stream, embed):
        scope = f"{call.headers['x-amz-date'][:8]}/{REGION}/bedrock/aws4_request"
        assert call.headers["authorization"].startswith(
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders=")
        assert call.headers["x-amz-security-token"] == SESSION_TOKEN
        assert signature_is_valid(call, fake_upstream.base)
    assert whole.json == {
        "messages": [{"role": "user", "content": [{"text": "Say hello."}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 64, "stopSequences": ["END"]},
    }
    assert stream.json == {"messages": [{"role": "user",
                                         "content": [{"text": "Say hello."}]}]}
    assert embed.json == {"inputText": "a"}
    assert_secret_kept(gateway, SECRET_KEY, SESSION_TOKEN)
