"""Which resource a ``scope`` parameter asks for, and which permissions it grants.

Forms understood: ``{identifier-uri or client-id}/{name}``, ``{...}/.default`` (every
scope, or every app role for app-only tokens), bare ``User.Read`` (= Microsoft Graph),
and the OIDC scopes ``openid profile email offline_access``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ._config import App
from ._directory import Directory
from ._errors import OAuthError, missing_parameter

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT = ".default"


@dataclass
class ResourceGrant:
    """The permissions asked of one resource: ``names`` canonical, ``echo`` as Entra
    returns them in the response ``scope`` (as requested, ``.default`` expanded)."""

    app: App
    prefix: str
    names: list[str] = field(default_factory=list)
    echo: list[str] = field(default_factory=list)


@dataclass
class ScopeRequest:
    """A parsed user-flow ``scope``: OIDC scopes plus resources in order of appearance."""

    oidc: list[str]
    resources: list[ResourceGrant]

    @property
    def primary(self) -> Optional[ResourceGrant]:
        """The resource a token is minted for (Entra takes the first)."""
        return self.resources[0] if self.resources else None

    def wants(self, oidc_scope: str) -> bool:
        return oidc_scope in self.oidc

    def response_scope(self) -> str:
        """The ``scope`` member of a token response."""
        granted = list(self.primary.echo) if self.primary else []
        granted += [s for s in self.oidc if s != "offline_access"]
        return " ".join(granted)


def split_scopes(text: str) -> list[str]:
    seen: list[str] = []
    for item in (text or "").split():
        if item not in seen:
            seen.append(item)
    return seen


def _invalid_scope(scope: str) -> OAuthError:
    return OAuthError(
        "invalid_scope",
        70011,
        f"The provided request must include a 'scope' input parameter. The provided value "
        f"for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
    )


def unknown_resource(resource: str) -> OAuthError:
    return OAuthError(
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant. This can "
        "happen if the application has not been installed by the administrator of the tenant "
        "or consented to by any user in the tenant.",
    )


def _locate(directory: Directory, scope: str) -> tuple[App, str, str]:
    """(resource app, prefix as written, permission name) of one non-OIDC scope."""
    if "/" not in scope and ":" not in scope:
        graph = directory.graph()
        if graph is None:
            raise unknown_resource("Microsoft Graph")
        return graph, "", scope
    hit = directory.resource_for(scope)
    if hit is None:
        raise unknown_resource(scope.rsplit("/", 1)[0] if "/" in scope else scope)
    app, prefix = hit
    name = scope[len(prefix) :].lstrip("/")
    if not name:
        raise _invalid_scope(scope)
    return app, prefix, name


def parse_user_scopes(directory: Directory, text: str) -> ScopeRequest:
    """Parse a delegated ``scope``; unknown resources and permissions raise OAuthError."""
    oidc: list[str] = []
    resources: list[ResourceGrant] = []
    for scope in split_scopes(text):
        if scope.lower() in OIDC_SCOPES:
            if scope.lower() not in oidc:
                oidc.append(scope.lower())
            continue
        app, prefix, name = _locate(directory, scope)
        grant = next((r for r in resources if r.app is app), None)
        if grant is None:
            grant = ResourceGrant(app, prefix or (app.identifier_uris or [app.client_id])[0])
            resources.append(grant)
        if name.lower() == DEFAULT:
            _add(grant, list(app.scopes), [scope] + [f"{grant.prefix}/{n}" for n in app.scopes])
            continue
        canonical = next((s for s in app.scopes if s.lower() == name.lower()), None)
        if canonical is None:
            raise _invalid_scope(scope)
        _add(grant, [canonical], [scope])
    return ScopeRequest(oidc, resources)


def _add(grant: ResourceGrant, names: list[str], echo: list[str]) -> None:
    grant.names += [n for n in names if n not in grant.names]
    grant.echo += [e for e in echo if e not in grant.echo]


def parse_app_scope(directory: Directory, text: str) -> tuple[App, str]:
    """The single resource of a client-credentials ``scope`` (``{resource}/.default``) and
    that resource as written (the ``aud`` of v1 tokens)."""
    scopes = split_scopes(text)
    if not scopes:
        raise missing_parameter("scope")
    found: list[tuple[App, str]] = []
    for scope in scopes:
        if not scope.lower().endswith("/" + DEFAULT):
            raise OAuthError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = scope[: -len(DEFAULT) - 1]
        hit = directory.resource_for(resource)
        if hit is None or resource[len(hit[1]) :].strip("/"):
            raise unknown_resource(resource)
        if all(app is not hit[0] for app, _ in found):
            found.append((hit[0], resource))
    if len(found) > 1:
        raise OAuthError(
            "invalid_scope",
            700022,
            "The provided value for the input parameter scope is not valid because it "
            "contains more than one resource. Scope "
            f"{' '.join(scopes)} is not valid.",
        )
    return found[0]
