"""The benchmark's own parts: the fast fake, the load generator, the figures."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from app import config
from bench import fake_upstream, report, stats
from bench.servers import REPO_ROOT, FakeUpstream, StreamShape, bench_config


@pytest.mark.parametrize("path, plan", [
    (b"/v1/chat/completions", (0.0, 1, 0.0)),
    (b"/d/50/v1/chat/completions", (0.05, 0, 0.0)),
    (b"/s/30/1000/v1/chat/completions", (0.0, 30, 1.0)),
])
def test_fake_reads_its_plan_from_the_path(path, plan):
    assert fake_upstream.plan(path) == plan


@pytest.mark.parametrize("head, length", [
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n", 12),
    (b"POST / HTTP/1.1\r\ncontent-length:7\r\nHost: x\r\n", 7),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", 0),
])
def test_fake_reads_content_length_in_any_case(head, length):
    assert fake_upstream.content_length(head) == length


@pytest.mark.parametrize("values, p, expected", [
    ([], 50, None),
    ([3.0], 99, 3.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
    (list(range(101)), 95, 95.0),
])
def test_percentile_interpolates_between_ranks(values, p, expected):
    assert stats.percentile(values, p) == expected


def test_bench_config_is_a_valid_gateway_config():
    built = config.build(bench_config(4321, StreamShape(3, 10)))
    assert {d.model_name for d in built.deployments} == {"fast", "slow", "stream"}
    assert built.master_key and built.allow_user_config
    assert "127.0.0.1:4321" in built.urls.allowed_hosts


def generate(spec: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.loadgen",
                           orjson.dumps(spec).decode()],
                          cwd=REPO_ROOT, capture_output=True, timeout=30, check=True)
    return orjson.loads(done.stdout)


@pytest.fixture(scope="module")
def fast_fake():
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


def test_closed_loop_against_the_fake_counts_every_answer(fast_fake):
    result = generate({"kind": "closed", "port": fast_fake.port,
                       "path": "/d/20/v1/chat/completions", "body": '{"model":"m"}',
                       "concurrency": 2, "duration_s": 0.3})
    assert result["errors"] == 0
    assert result["statuses"] == {"200": len(result["latencies_ms"])}
    assert 10 <= len(result["latencies_ms"]) <= 2 * 0.3 / 0.02 + 2
    assert min(result["latencies_ms"]) >= 20


def test_streams_are_read_to_their_end_with_every_chunk(fast_fake):
    result = generate({"kind": "streams", "port": fast_fake.port,
                       "path": "/s/3/20/v1/chat/completions",
                       "body": '{"model":"m","stream":true}', "count": 4,
                       "ramp_s": 0.05, "chunks": 3, "timeout_s": 5, "limit_s": 10})
    assert result["error_count"] == 0 and result["unfinished"] == 0
    assert result["open_peak"] == 4
    assert len(result["ttfc_ms"]) == 4
    assert all(d >= 0.04 for d in result["durations_s"])


def test_a_stream_with_fewer_chunks_than_expected_is_an_error(fast_fake):
    result = generate({"kind": "streams", "port": fast_fake.port,
                       "path": "/s/2/10/v1/chat/completions",
                       "body": '{"model":"m","stream":true}', "count": 1,
                       "ramp_s": 0, "chunks": 3, "timeout_s": 5, "limit_s": 10})
    assert result["errors"] == ["2 chunks of 3"]


def results_with(streams: int, beside_p99: float, rss: list[float]) -> dict:
    return {
        "startup": {"ready_s": 0.4},
        "memory": {"peak_rss_mb": rss},
        "streams": {"streams": streams, "held_at_once": streams, "errors": 0,
                    "unfinished": 0, "beside": {"p99": beside_p99}},
    }


def test_targets_are_judged_on_what_ran():
    judged = {t["target"]: t["met"] for t in
              report.judged(results_with(1000, 60.0, [50.0, 61.0]))}
    assert judged == {"streams_held": True, "beside_streams_p99_ms": False,
                      "peak_rss_mb": False, "ready_s": True}


def test_a_short_streams_run_is_not_judged_on_the_streams_target():
    judged = {t["target"]: t["met"] for t in
              report.judged(results_with(200, 5.0, [50.0]))}
    assert judged["streams_held"] is None
    assert judged["beside_streams_p99_ms"] is True
