"""The regex allowlist behind ``configurable_clientside_auth_params``.

Each deployment lists which client auth params it accepts: a plain name admits
any value, ``{name: regex}`` admits values the pattern matches in full
(``re.fullmatch``: a pattern without ``$`` still cannot be fooled by a longer
value). Patterns compile once, when the config loads; the request path only
matches. Deny by default.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.params import AUTH_ALIASES, URL_PARAMS

logger = logging.getLogger(__name__)

# A host part that can run across a dot or a slash: ".*", ".+", "[^/]*" ...
_LOOSE_HOST = re.compile(r"\.[*+]|\[\^[^\]]*\][*+]|\\S[*+]|\\w\*")


class AllowlistError(ValueError):
    """A pattern that does not compile or names no known auth param."""


@dataclass(frozen=True)
class Allowlist:
    """What clients may set on one deployment."""

    any_value: frozenset[str] = frozenset()
    patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    everything: bool = False

    def lookup(self, name: str) -> tuple[bool, tuple[re.Pattern[str], ...]]:
        """``(allowed for any value, patterns)`` for a name or its canonical alias."""
        if self.everything:
            return True, ()
        canonical = AUTH_ALIASES.get(name, name)
        names = (name, canonical)
        if any(n in self.any_value for n in names):
            return True, ()
        found: tuple[re.Pattern[str], ...] = ()
        for n in dict.fromkeys(names):
            found += self.patterns.get(n, ())
        return False, found

    def allows(self, name: str, value: str) -> bool | None:
        """True when admitted, False when a pattern refused it, None if unlisted."""
        any_value, patterns = self.lookup(name)
        if any_value:
            return True
        if not patterns:
            return None
        return any(p.fullmatch(value) for p in patterns)

    @property
    def is_empty(self) -> bool:
        return not (self.everything or self.any_value or self.patterns)


def compile_allowlist(entries: Iterable[str | Mapping[str, str]] | None,
                      label: str) -> Allowlist:
    """Compile a deployment's allowances; ``label`` names it in errors."""
    any_value: set[str] = set()
    patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
    for entry in entries or ():
        if isinstance(entry, str):
            any_value.add(known_name(entry, label))
            continue
        for name, source in entry.items():
            name = known_name(name, label)
            patterns[name] = patterns.get(name, ()) + (compile_one(source, label),)
            if name in URL_PARAMS or AUTH_ALIASES.get(name) in URL_PARAMS:
                warn_if_loose(source, label)
    return Allowlist(frozenset(any_value), patterns)


ALLOW_ALL = Allowlist(everything=True)


def known_name(name: str, label: str) -> str:
    if name not in AUTH_ALIASES:
        raise AllowlistError(
            f"{label}: '{name}' in configurable_clientside_auth_params is not "
            f"a client auth param (known: {', '.join(sorted(AUTH_ALIASES))})."
        )
    return name


def compile_one(source: str, label: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error as error:
        raise AllowlistError(
            f"{label}: the pattern {source!r} does not compile: {error}."
        ) from error


def warn_if_loose(source: str, label: str) -> None:
    """Say so when a URL pattern's host part can span dots or slashes."""
    host_part = source.split("://", 1)[-1].split("/", 1)[0]
    if _LOOSE_HOST.search(host_part):
        logger.warning(
            "%s: the api_base pattern %r lets the host part run across a dot or "
            "slash, so it may admit hosts you did not mean; the deployment's "
            "key can travel to any host it admits. Prefer [a-z0-9-]+ for a "
            "single host label.",
            label, source,
        )
