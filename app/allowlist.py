"""The regex allowlist behind ``configurable_clientside_auth_params``.

Each deployment lists which client auth params it accepts: a plain name admits
any value, ``{name: regex}`` admits values the pattern matches in full
(``re.fullmatch``: a pattern without ``$`` still cannot be fooled by a longer
value). Names are kept by meaning, so allowing ``base_url`` allows
``api_base`` and the other way round. Patterns compile once, when the config
loads; the request path only matches. Deny by default.

LiteLLM's proxy-wide ``allow_client_side_credentials`` counts as a plain name
for every param; a deployment's patterns still say which values the operator
vouched for, since only those may carry the deployment's own key.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.params import AUTH_ALIASES, HOST_IDENTITY_PARAMS, ROUTING_ALIASES, URL_PARAMS
from app.patterns import loose_host

logger = logging.getLogger(__name__)


class AllowlistError(ValueError):
    """A pattern that does not compile or names no known auth param."""


class Verdict(enum.Enum):
    """What a deployment's allowlist says about one client value."""

    UNLISTED = "clients may not set it"
    MISMATCH = "its value does not match the pattern the operator set"
    ANY_VALUE = "allowed for any value"
    VOUCHED = "matched a pattern the operator set"

    @property
    def allowed(self) -> bool:
        return self in (Verdict.ANY_VALUE, Verdict.VOUCHED)


@dataclass(frozen=True)
class Allowlist:
    """What clients may set on one deployment, by canonical param name."""

    any_value: frozenset[str] = frozenset()
    patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    everything: bool = False

    def judge(self, name: str, value: str) -> Verdict:
        """The verdict on ``value`` for the param a client wrote as ``name``."""
        canonical = AUTH_ALIASES.get(name, name)
        patterns = self.patterns.get(canonical, ())
        if any(pattern.fullmatch(value) for pattern in patterns):
            return Verdict.VOUCHED
        if self.everything or canonical in self.any_value:
            return Verdict.ANY_VALUE
        return Verdict.MISMATCH if patterns else Verdict.UNLISTED

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.any_value or self.patterns)


ALLOW_ALL = Allowlist(everything=True)


def compile_allowlist(entries: Iterable[str | Mapping[str, str]] | None,
                      label: str, *, everything: bool = False) -> Allowlist:
    """Compile a deployment's allowances; ``label`` names it in errors.

    ``everything`` is the proxy-wide switch: every param for any value.
    """
    any_value: set[str] = set()
    patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
    for entry in entries or ():
        pairs = [(entry, None)] if isinstance(entry, str) else entry.items()
        for written, source in pairs:
            name = known_name(written, label)
            if name is None:
                continue
            if source is None:
                any_value.add(name)
                continue
            patterns[name] = patterns.get(name, ()) + (compile_one(source, label),)
            if name in URL_PARAMS:
                warn_if_loose(source, label)
    return Allowlist(frozenset(any_value), patterns, everything)


def known_name(name: str, label: str) -> str | None:
    """The canonical name of an allowance; None (with a warning) to skip it."""
    if name in ROUTING_ALIASES:
        logger.warning("%s: '%s' in configurable_clientside_auth_params needs no "
                       "allowance (it is validated, not gated); ignored.", label, name)
        return None
    if name in HOST_IDENTITY_PARAMS:
        logger.warning("%s: '%s' in configurable_clientside_auth_params selects an "
                       "identity of the gateway's host and is never accepted from "
                       "clients; ignored.", label, name)
        return None
    if name not in AUTH_ALIASES:
        raise AllowlistError(
            f"{label}: '{name}' in configurable_clientside_auth_params is not "
            f"a client auth param (known: {', '.join(sorted(AUTH_ALIASES))})."
        )
    return AUTH_ALIASES[name]


def compile_one(source: str, label: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error as error:
        raise AllowlistError(
            f"{label}: the pattern {source!r} does not compile: {error}."
        ) from error


def warn_if_loose(source: str, label: str) -> None:
    """Say so when a URL pattern's host part can run across a dot or a slash."""
    if loose_host(source):
        logger.warning(
            "%s: the api_base pattern %r lets the host part run across a dot or "
            "slash, so it may admit hosts you did not mean; the deployment's "
            "key can travel to any host it admits. Prefer [a-z0-9-]+ for a "
            "single host label.",
            label, source,
        )
