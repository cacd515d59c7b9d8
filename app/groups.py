"""Resolving a requested model name to a group of deployments.

Order of precedence: an exact ``model_name``, then the wildcard group with the
longest literal prefix (``fireworks_ai/*`` serves ``fireworks_ai/<rest>``
with ``<rest>`` put in place of the ``*``, slashes and all), then ``"*"``.
Only public names route: an operator deployment's ``litellm_params.model``
is never a way in. A ``user_config`` may also be addressed by its
deployments' model names (the seed's JS example relies on it); that rule is
switched on per instance and holds for client configs only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app import errors
from app.settings import Deployment


class ModelGroups:
    def __init__(self, deployments: Iterable[Deployment], *,
                 aliases: Mapping[str, str] | None = None,
                 by_internal_name: bool = False) -> None:
        self.exact: dict[str, list[Deployment]] = {}
        self.wildcards: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            table = self.wildcards if deployment.is_wildcard else self.exact
            table.setdefault(deployment.model_name, []).append(deployment)
        self.prefixes = sorted(self.wildcards, key=lambda n: -len(n.split("*")[0]))
        self.aliases = dict(aliases or {})
        self.internal = self.internal_names() if by_internal_name else {}
        self.scope = "in this user_config" if by_internal_name else "on this gateway"

    def internal_names(self) -> dict[str, str]:
        """``litellm_params.model`` (with and without provider) -> group."""
        names: dict[str, str] = {}
        for group, members in self.exact.items():
            for deployment in members:
                names.setdefault(deployment.model, group)
                names.setdefault(f"{deployment.provider}/{deployment.model}", group)
        return names

    def names(self) -> list[str]:
        return list(self.exact) + list(self.wildcards)

    def has(self, group: str) -> bool:
        return group in self.exact or group in self.wildcards

    def resolve(self, requested: str) -> tuple[str, list[Deployment]]:
        """``(group name, deployments)`` serving ``requested``; 404 if none."""
        name = self.aliases.get(requested, requested)
        if name in self.exact:
            return name, self.exact[name]
        if name in self.internal:
            group = self.internal[name]
            return group, self.exact[group]
        if "*" not in name:
            for pattern in self.prefixes:
                prefix = pattern.split("*", 1)[0]
                if name.startswith(prefix) and len(name) > len(prefix):
                    members = [d.serving(name) for d in self.wildcards[pattern]]
                    return pattern, members
        raise self.not_found(requested)

    def group(self, name: str) -> list[Deployment]:
        """The deployments of a group named in a fallback list."""
        if name in self.exact:
            return self.exact[name]
        return self.resolve(name)[1]

    def not_found(self, requested: str) -> errors.ModelNotFound:
        known = ", ".join(sorted(self.names())) or "none"
        shown = requested if len(requested) <= 200 else requested[:200] + "..."
        return errors.ModelNotFound(
            f"The model '{shown}' does not exist {self.scope}. "
            f"Models served: {known}.", param="model")
