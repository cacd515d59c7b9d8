"""The only place that may say yes to a client's credential or destination.

:func:`~app.client_params.collect` gathers every client auth param of a body
and checks each value's form. :meth:`Gate.settle` then decides, for one
deployment, which of them apply and returns the :class:`CallSettings` the
dispatcher uses. Each request gets its own settings: a client key never
sticks to anything shared.

The rules, in the order they apply:

- every client auth param must be allowed on the deployment, by name (any
  value) or by a pattern (the value, a URL parsed and normalised first, must
  match it in full); a client ``api_key`` is also accepted wherever the same
  request's ``api_base`` is allowed;
- a client URL always passes the SSRF guard (a pattern never bypasses it);
- a destination the operator vouched for (a pattern matched) is called as
  the deployment, with its key; any other client destination gets nothing of
  the operator's (no key, no credentials, no default params, nothing from the
  gateway's environment) and needs a credential of the client's own;
- a client credential replaces the operator's identity as a whole (key,
  token, AWS keys, service account, organization, project), never mixes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import errors, providers, urlguard
from app.allowlist import Verdict
from app.client_params import ClientAuth
from app.credentials import fingerprint
from app.params import AUTH_ALIASES, IDENTITY_PARAMS, URL_PARAMS
from app.settings import EMPTY, Deployment, UrlSettings

logger = logging.getLogger(__name__)

HOW_TO_ALLOW = (
    "The operator can allow it for this model with "
    "litellm_params.configurable_clientside_auth_params (a name, or "
    "{name: regex}), or for every model with "
    "general_settings.allow_client_side_credentials."
)

# The deployment setting a client-named endpoint stands in for, by provider.
ENDPOINT_PARAMS = {"bedrock": "aws_bedrock_runtime_endpoint"}

Checked = dict[Any, "urlguard.CheckedUrl | errors.InvalidRequest"]


@dataclass(frozen=True)
class CallSettings:
    """Where and as whom one attempt calls its deployment.

    ``defaults`` are the deployment's default body params; ``client_base``
    says a client chose the destination (checked and pinned).
    """

    api_base: str | None
    api_key: str | None
    credentials: Mapping[str, Any]
    use_environment_credentials: bool
    pinned: urlguard.CheckedUrl | None = None
    client_base: bool = False
    defaults: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    client_credentials: frozenset[str] = frozenset()


class Gate:
    """Decides, per deployment, which client auth params apply."""

    def __init__(self, urls: UrlSettings,
                 resolver: Callable[[str, int], list[str]] | None = None) -> None:
        self.policy = urlguard.UrlPolicy.from_settings(urls.allowed_hosts,
                                                       urls.validate)
        self.resolver = resolver

    def settle(self, deployment: Deployment, auth: ClientAuth,
               checked: Checked) -> CallSettings:
        """The call settings for ``deployment``; 400 if a param is refused.

        ``checked`` caches SSRF verdicts for this request across deployments.
        """
        if deployment.client_owned:
            return self.client_owned(deployment, auth, checked)
        destination = destination_of(deployment, auth)
        vouched = self.judge(deployment, auth, destination)
        if destination is None:
            return as_operator(deployment, auth, deployment.api_base, None)
        pinned = self.check_url(destination, auth.values[destination], checked)
        if AUTH_ALIASES[destination] in vouched:
            return as_operator(deployment, auth, pinned.normalised, pinned)
        return as_client(deployment, auth, pinned)

    def judge(self, deployment: Deployment, auth: ClientAuth,
              destination: str | None) -> set[str]:
        """Refuse any param not allowed; return the canonical names vouched for.

        Every param is judged before the key, so one allowed param never
        waves another through.
        """
        vouched: set[str] = set()
        for name in auth.values:
            if name == "api_key":
                continue
            verdict = deployment.allowlist.judge(name, auth.subject(name))
            if not verdict.allowed:
                raise refusal(deployment, name, verdict)
            if verdict is Verdict.VOUCHED:
                vouched.add(AUTH_ALIASES[name])
        if "api_key" in auth.values:
            verdict = deployment.allowlist.judge("api_key", auth.subject("api_key"))
            if verdict is Verdict.UNLISTED and destination is not None:
                verdict = Verdict.ANY_VALUE  # the client's key for its own host
            if not verdict.allowed:
                raise refusal(deployment, "api_key", verdict)
        log_use(deployment, auth)
        return vouched

    def check_url(self, param: str, value: Any, checked: Checked
                  ) -> urlguard.CheckedUrl:
        """The SSRF verdict on one URL, looked up once per request."""
        key = (param, value)
        if key not in checked:
            try:
                checked[key] = urlguard.check(value, param, self.policy,
                                              resolver=self.resolver)
            except errors.InvalidRequest as error:
                checked[key] = error
        found = checked[key]
        if isinstance(found, errors.InvalidRequest):
            raise found
        return found

    def client_owned(self, deployment: Deployment, auth: ClientAuth,
                     checked: Checked) -> CallSettings:
        """A ``user_config`` deployment: the client's own, nothing of ours.

        Its destination, from the body, its own config or the provider's
        default, passes the SSRF guard like any client URL.
        """
        credentials = {k: v for k, v in deployment.credentials.items()
                       if k not in URL_PARAMS}
        credentials.update(client_credentials(auth))
        param, base = client_owned_base(deployment, auth)
        pinned = self.check_url(param, base, checked) if base else None
        return CallSettings(
            api_base=pinned.normalised if pinned else None,
            api_key=auth.canonical("api_key") or deployment.api_key,
            credentials=credentials, use_environment_credentials=False,
            pinned=pinned, client_base=True, defaults=deployment.defaults,
            client_credentials=frozenset(credentials),
        )


def destination_of(deployment: Deployment, auth: ClientAuth) -> str | None:
    """The name the client used for where the call goes, if it chose.

    ``api_base`` serves every provider; a provider's own endpoint param
    (Bedrock's runtime endpoint) only that provider, and is ignored elsewhere.
    """
    written = auth.written("api_base")
    if written is not None:
        return written
    endpoint = ENDPOINT_PARAMS.get(deployment.provider)
    return auth.written(endpoint) if endpoint else None


def as_operator(deployment: Deployment, auth: ClientAuth, api_base: str | None,
                pinned: urlguard.CheckedUrl | None) -> CallSettings:
    """The deployment's settings, the client's params on top (a vetted host)."""
    credentials = dict(deployment.credentials)
    api_key = deployment.api_key
    own_identity = auth.brings_credential()
    if own_identity:
        credentials = {k: v for k, v in credentials.items()
                       if k not in IDENTITY_PARAMS}
        api_key = None
    if pinned is not None:
        credentials.pop(ENDPOINT_PARAMS.get(deployment.provider, ""), None)
    credentials.update(client_credentials(auth))
    return CallSettings(
        api_base=api_base,
        api_key=auth.canonical("api_key") or api_key,
        credentials=credentials,
        use_environment_credentials=not own_identity,
        pinned=pinned,
        client_base=pinned is not None,
        defaults=deployment.defaults,
        client_credentials=frozenset(client_credentials(auth)),
    )


def as_client(deployment: Deployment, auth: ClientAuth,
              pinned: urlguard.CheckedUrl) -> CallSettings:
    """A host the client chose and the operator did not vouch for.

    Nothing of the operator's goes there but the model name and API version.
    """
    if not auth.brings_credential():
        raise errors.InvalidRequest(
            f"A client api_base on model '{deployment.model_name}' needs the "
            f"client's own api_key: the operator's key is never sent to a "
            f"host the client chose.", param="api_key")
    return CallSettings(
        api_base=pinned.normalised,
        api_key=auth.canonical("api_key"),
        credentials=client_credentials(auth),
        use_environment_credentials=False,
        pinned=pinned,
        client_base=True,
        client_credentials=frozenset(client_credentials(auth)),
    )


def client_credentials(auth: ClientAuth) -> dict[str, Any]:
    """The client's params that travel in ``credentials``, by canonical name."""
    found = {}
    for name, value in auth.values.items():
        canonical = AUTH_ALIASES[name]
        if canonical != "api_key" and canonical not in URL_PARAMS:
            found[canonical] = value
    return found


def client_owned_base(deployment: Deployment, auth: ClientAuth
                      ) -> tuple[str, str | None]:
    """Where a ``user_config`` deployment's call goes, and the param to blame."""
    written = destination_of(deployment, auth)
    if written is not None:
        return written, auth.values[written]
    if deployment.mock_response is not None:
        return "user_config", None  # answered offline: no destination to check
    endpoint = deployment.credentials.get(ENDPOINT_PARAMS.get(deployment.provider, ""))
    base = (deployment.api_base or endpoint
            or providers.default_base(deployment.provider))
    return "user_config", base


def log_use(deployment: Deployment, auth: ClientAuth) -> None:
    """One debug line naming the client's params, keys by fingerprint only."""
    if not auth or not logger.isEnabledFor(logging.DEBUG):
        return
    shown = []
    for name in sorted(auth.values):
        value = auth.values[name]
        if name in auth.urls:
            shown.append(f"{name}=host:{auth.urls[name].host}")
        elif isinstance(value, str):
            shown.append(f"{name}=fp:{fingerprint(value)}")
        else:
            shown.append(name)
    logger.debug("client auth params on %s: %s", deployment.model_name,
                 ", ".join(shown))


def refusal(deployment: Deployment, name: str, verdict: Verdict
            ) -> errors.InvalidRequest:
    logger.info("refused client param %s on %s: %s", name, deployment.model_name,
                verdict.value)
    return errors.InvalidRequest(
        f"The param '{name}' was refused for model '{deployment.model_name}': "
        f"{verdict.value}. {HOW_TO_ALLOW}", param=name)
