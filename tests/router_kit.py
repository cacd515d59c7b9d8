"""Test doubles for the router: a scripted dispatcher, a clock that only moves
when told, and a builder for routers over them. No test using these sleeps
or opens a socket."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app import config, errors, schemas
from app.attempts import Served
from app.dispatcher import Target, Timeouts
from app.gate import Gate
from app.providers.base import Call
from app.router import Router
from app.settings import Limits
from app.state import InProcessState

Outcome = Any  # a body dict, a list of chunks, or a callable(call, timeouts)


class FakeClock:
    """Monotonic time that moves only through :meth:`advance` and :meth:`sleep`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Sent:
    call: Call
    target: Target
    timeouts: Timeouts
    at: float

    @property
    def model(self) -> str:
        return self.call.model


@dataclass
class FakeDispatcher:
    """Answers each deployment (by its upstream model name) from a script;
    the last outcome repeats. Unscripted models answer :func:`chat`."""

    clock: FakeClock
    scripts: dict[str, list[Outcome]] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)
    calls: list[Sent] = field(default_factory=list)

    def script(self, model: str, *outcomes: Outcome) -> None:
        self.scripts[model] = list(outcomes)
        self.served[model] = 0

    def send(self, call: Call, target: Target, timeouts: Timeouts
             ) -> dict | Iterator[dict]:
        self.calls.append(Sent(call, target, timeouts, self.clock()))
        script = self.scripts.get(call.model) or [chat(f"ok-from-{call.model}")]
        index = self.served.get(call.model, 0)
        self.served[call.model] = index + 1
        outcome = script[min(index, len(script) - 1)]
        if callable(outcome):
            outcome = outcome(call, timeouts)
        if isinstance(outcome, list):
            return iter(outcome)
        return outcome

    def models(self) -> list[str]:
        return [sent.model for sent in self.calls]


def chat(text: str = "ok", tokens: int = 3) -> dict:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": tokens - 1,
                  "total_tokens": tokens},
    }


def chunk(content: str | None = None, *, role: bool = False,
          finish: str | None = None) -> dict:
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def stream_ok(text: str = "ok") -> list[dict]:
    return [chunk("", role=True), chunk(text), chunk(finish="stop")]


def fail(kind: type[errors.GatewayError] | int, *,
         headers: dict[str, str] | None = None,
         message: str = "upstream failed") -> Callable[[Call, Timeouts], Any]:
    """An outcome raising a fresh error of ``kind`` (a class or an HTTP status)."""
    cls = errors.class_for_upstream_status(kind) if isinstance(kind, int) else kind
    status = kind if isinstance(kind, int) else None

    def raise_it(call: Call, timeouts: Timeouts) -> Any:
        raise cls(message, headers=headers, upstream_status=status)

    return raise_it


def times_out(clock: FakeClock) -> Callable[[Call, Timeouts], Any]:
    """An outcome that uses up the attempt's whole timeout, then fails."""

    def wait_it_out(call: Call, timeouts: Timeouts) -> Any:
        clock.advance(timeouts.first() if call.stream else timeouts.total)
        raise errors.UpstreamTimeout("The upstream did not answer within the timeout.")

    return wait_it_out


def takes(clock: FakeClock, seconds: float, outcome: Outcome
          ) -> Callable[[Call, Timeouts], Any]:
    """An outcome that answers after ``seconds`` of the clock."""

    def later(call: Call, timeouts: Timeouts) -> Any:
        clock.advance(seconds)
        return outcome(call, timeouts) if callable(outcome) else outcome

    return later


def deployment(group: str, model: str, **params: Any) -> dict[str, Any]:
    """A ``model_list`` entry with a stable id (the model name)."""
    litellm = {"model": f"openai/{model}", "api_base": f"http://{model}.test/v1",
               "api_key": f"sk-op-{model}-SECRET", **params}
    return {"model_name": group, "litellm_params": litellm,
            "model_info": {"id": model}}


@dataclass
class Kit:
    router: Router
    dispatcher: FakeDispatcher
    clock: FakeClock
    state: InProcessState

    def ask(self, model: str = "g", **body: Any) -> Served:
        body.setdefault("messages", [{"role": "user", "content": "hi"}])
        return self.router.serve(schemas.parse("chat", {"model": model, **body},
                                               Limits()))

    def error(self, model: str = "g", **body: Any) -> errors.GatewayError:
        """The error a request ends with (the test fails if it succeeds)."""
        try:
            served = self.ask(model, **body)
        except errors.GatewayError as error:
            return error
        raise AssertionError(f"expected an error, got {served}")

    def cooling(self, model: str) -> bool:
        return self.state.cooldown_until(model, self.clock()) is not None


def make_kit(model_list: list[dict[str, Any]], seed: int = 7,
             rng: random.Random | None = None,
             litellm_settings: dict[str, Any] | None = None,
             resolver: Callable[[str, int], list[str]] | None = None,
             **router_settings: Any) -> Kit:
    """A router over ``model_list`` with a fake dispatcher, clock and state."""
    built = config.build({"model_list": model_list,
                          "router_settings": router_settings,
                          "litellm_settings": litellm_settings or {}})
    clock = FakeClock()
    dispatcher = FakeDispatcher(clock)
    state = InProcessState()
    router = Router(built.deployments, built.router,
                    gate=Gate(built.urls, resolver=resolver),
                    dispatcher=dispatcher, state=state, clock=clock,
                    sleep=clock.sleep, rng=rng or random.Random(seed))
    return Kit(router, dispatcher, clock, state)
