"""Gathering a body's client auth and routing params, wherever they hide.

A value could be merged into the call from the top level, a literal
``extra_body`` object, a literal ``litellm_params`` object, ``metadata`` or a
fallback entry, so :func:`collect` reads every one of them and checks each
value's form before :class:`~app.gate.Gate` decides anything. The same param
sent twice (or under its alias) with different values is refused, so no
place can quietly override another. Routing params are validated here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import errors, urlguard
from app.credentials import check_value
from app.params import (
    AUTH_ALIASES,
    CREDENTIAL_PARAMS,
    HOST_IDENTITY_PARAMS,
    ROUTING_ALIASES,
    ROUTING_PATTERNS,
    URL_PARAMS,
)

NESTED_PLACES = ("extra_body", "litellm_params", "metadata")


@dataclass(frozen=True)
class ClientAuth:
    """The client's auth params: by the name it used, and parsed URLs."""

    values: Mapping[str, Any] = field(default_factory=dict)
    urls: Mapping[str, urlguard.ClientUrl] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    def written(self, canonical: str) -> str | None:
        """The name the client used for ``canonical``, if it sent it."""
        for name in self.values:
            if AUTH_ALIASES[name] == canonical:
                return name
        return None

    def canonical(self, name: str) -> Any:
        written = self.written(name)
        return None if written is None else self.values[written]

    def brings_credential(self) -> bool:
        """True when the client sent a credential of its own (key, token...)."""
        return any(AUTH_ALIASES[name] in CREDENTIAL_PARAMS for name in self.values)

    def subject(self, name: str) -> str:
        """What an allowlist pattern is matched against for ``name``.

        A URL in its normalised form, a string as it is, anything else (an
        object of headers, inline service-account JSON) as compact JSON with
        sorted keys.
        """
        if name in self.urls:
            return self.urls[name].normalised
        value = self.values[name]
        if isinstance(value, str):
            return value
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def collect(data: Mapping[str, Any]) -> ClientAuth:
    """Every client auth param of a body, with its form checked."""
    values: dict[str, Any] = {}
    for place in (data, *(data.get(p) for p in NESTED_PLACES)):
        if not isinstance(place, Mapping):
            continue
        for name, value in place.items():
            if name in AUTH_ALIASES and value is not None:
                add_value(values, name, value)
    urls = {}
    for name, value in values.items():
        if AUTH_ALIASES[name] in URL_PARAMS:
            urls[name] = urlguard.parse_client_url(value, name)
    return ClientAuth(values, urls)


def add_value(values: dict[str, Any], name: str, value: Any) -> None:
    if name in HOST_IDENTITY_PARAMS:
        raise errors.InvalidRequest(
            f"The param '{name}' selects an identity of the gateway's host and "
            f"is never accepted from clients.", param=name)
    check_value(name, value)
    canonical = AUTH_ALIASES[name]
    for written, earlier in values.items():
        if AUTH_ALIASES[written] == canonical and earlier != value:
            raise errors.InvalidRequest(
                f"The param '{name}' was sent more than once (or with its alias "
                f"'{written}') with different values.", param=name)
    values[name] = value


def routing_params(data: Mapping[str, Any], query_version: str | None = None
                   ) -> dict[str, str]:
    """Validated version, location and region params, by canonical name.

    The body wins over the ``api-version`` query parameter.
    """
    found: dict[str, str] = {}
    if query_version is not None:
        found["api_version"] = checked_routing("api_version", query_version)
    places = (data, data.get("extra_body"), data.get("litellm_params"))
    for place in places:
        if not isinstance(place, Mapping):
            continue
        for name, value in place.items():
            if name in ROUTING_ALIASES and value is not None:
                found[ROUTING_ALIASES[name]] = checked_routing(name, value)
    return found


def checked_routing(name: str, value: Any) -> str:
    pattern = ROUTING_PATTERNS[ROUTING_ALIASES[name]]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise errors.InvalidRequest(
            f"The param '{name}' has an invalid value: it must match "
            f"{pattern.pattern}.", param=name)
    return value


def fallback_entries(entries: Any) -> tuple[tuple[str, ...] | None,
                                            dict[str, ClientAuth]]:
    """A request's ``fallbacks``: group names, or ``{model, <auth params>}``."""
    if entries is None:
        return None, {}
    groups, auth = [], {}
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            groups.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("model"), str):
            groups.append(entry["model"])
            auth[entry["model"]] = collect(entry)
        else:
            raise errors.InvalidRequest(
                f"fallbacks[{index}]: expected a model group name or an object "
                f"with a 'model' key.", param="fallbacks")
    return tuple(groups), auth
