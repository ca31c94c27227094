"""Credential types and the cache key formats shared by every MSAL library."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Callable

from identitylib._protocol._jwt import b64url_encode

KeyMaker = Callable[..., str]


class CredentialType:
    """Section names of the serialized cache (``TokenCache.CredentialType``)."""

    ACCESS_TOKEN = "AccessToken"
    ACCESS_TOKEN_EXTENDED = "atext"
    REFRESH_TOKEN = "RefreshToken"
    ACCOUNT = "Account"
    ID_TOKEN = "IdToken"
    APP_METADATA = "AppMetadata"


class AuthorityType:
    """Values of an account's ``authority_type`` (``TokenCache.AuthorityType``)."""

    ADFS = "ADFS"
    MSSTS = "MSSTS"


#: Request body fields that never contribute to an extended cache key.
EXT_CACHE_KEY_EXCLUDED_FIELDS = frozenset(
    {
        "client_id",
        "grant_type",
        "scope",
        "claims",
        "username",
        "password",
        "refresh_token",
        "code",
        "redirect_uri",
        "code_verifier",
        "device_code",
        "assertion",
        "requested_token_use",
        "client_assertion",
        "client_assertion_type",
        "client_secret",
        "token_type",
        "req_cnf",
        "key_id",
        "user_federated_identity_credential",
        "user_id",
        "client_info",
    }
)


def _join(*parts: Any) -> str:
    return "-".join([str(part) if part else "" for part in parts])


def access_token_key(
    *,
    home_account_id: Any = None,
    environment: Any = None,
    client_id: Any = None,
    realm: Any = None,
    target: Any = None,
    ext_cache_key: Any = None,
    **_other_fields: Any,
) -> str:
    """``home-env-AccessToken-client-realm-target`` (``atext`` and a suffix if extended)."""
    return access_token_key_from(
        home_account_id, environment, client_id, realm, target, ext_cache_key
    )


def access_token_key_from(
    home_account_id: Any, environment: Any, client_id: Any, realm: Any, target: Any, ext: Any
) -> str:
    """:func:`access_token_key` of the values of these fields (``ext``: the extended key)."""
    kind = CredentialType.ACCESS_TOKEN_EXTENDED if ext else CredentialType.ACCESS_TOKEN
    # _join's text, written out (a key per token response): a falsy part is empty
    key = (
        f"{home_account_id or ''}-{environment or ''}-{kind}-{client_id or ''}-{realm or ''}-"
        f"{target or ''}"
    )
    if ext:
        key = f"{key}-{ext}"
    return key.lower()


def key_of(
    key_makers: Mapping[str, KeyMaker], credential_type: str, entry: Mapping[str, Any]
) -> str:
    """``key_makers[credential_type](**entry)``: the key ``entry`` is stored under. The
    default makers' keys are made from the fields they read without a keyword call (every
    token response stores three to five entries): ``_join``'s text, written out."""
    maker = key_makers[credential_type]
    get = entry.get
    if maker is access_token_key:
        return access_token_key_from(
            get("home_account_id"), get("environment"), get("client_id"), get("realm"),
            get("target"), get("ext_cache_key"),
        )  # fmt: skip
    if maker is refresh_token_key:
        return (
            f"{get('home_account_id') or ''}-{get('environment') or ''}-"
            f"{CredentialType.REFRESH_TOKEN}-{get('client_id') or ''}--{get('target') or ''}"
        ).lower()
    if maker is app_metadata_key:
        return f"appmetadata-{get('environment') or ''}-{get('client_id') or ''}"
    if maker is id_token_key:
        return (
            f"{get('home_account_id') or ''}-{get('environment') or ''}-"
            f"{CredentialType.ID_TOKEN}-{get('client_id') or ''}-{get('realm') or ''}-"
        ).lower()
    if maker is account_key:
        return (
            f"{get('home_account_id') or ''}-{get('environment') or ''}-{get('realm') or ''}"
        ).lower()
    return maker(**entry)


def refresh_token_key(
    *,
    home_account_id: Any = None,
    environment: Any = None,
    client_id: Any = None,
    target: Any = None,
    **_other_fields: Any,
) -> str:
    """``home-env-RefreshToken-client--target``: refresh tokens are cross-tenant."""
    kind = CredentialType.REFRESH_TOKEN
    return _join(home_account_id, environment, kind, client_id, "", target).lower()


def id_token_key(
    *,
    home_account_id: Any = None,
    environment: Any = None,
    client_id: Any = None,
    realm: Any = None,
    **_other_fields: Any,
) -> str:
    """``home-env-IdToken-client-realm-`` (the schema wants an empty target)."""
    kind = CredentialType.ID_TOKEN
    return _join(home_account_id, environment, kind, client_id, realm, "").lower()


def account_key(
    *,
    home_account_id: Any = None,
    environment: Any = None,
    realm: Any = None,
    **_other_fields: Any,
) -> str:
    """``home-env-realm``."""
    return _join(home_account_id, environment, realm).lower()


def app_metadata_key(
    *, environment: Any = None, client_id: Any = None, **_other_fields: Any
) -> str:
    """``appmetadata-env-client`` (not lower-cased; as msal formats it, without a join)."""
    return f"appmetadata-{environment or ''}-{client_id or ''}"


def default_key_makers() -> dict[str, KeyMaker]:
    """A fresh ``key_makers`` mapping (apps may replace its items)."""
    return {
        CredentialType.ACCESS_TOKEN: access_token_key,
        CredentialType.REFRESH_TOKEN: refresh_token_key,
        CredentialType.ID_TOKEN: id_token_key,
        CredentialType.ACCOUNT: account_key,
        CredentialType.APP_METADATA: app_metadata_key,
    }


def compute_ext_cache_key(data: Mapping[str, Any] | None) -> str:
    """The extended cache key of a request body: "" when it has no extra field.

    Each extra field contributes ``<len(name)>:<name><len(value)>:<value>`` (byte lengths,
    names sorted); the SHA-256 of the concatenation is base64url-encoded without padding
    and lower-cased, as the other MSAL libraries do.
    """
    if not data:
        return ""
    extra = {
        str(name): str(value)
        for name, value in data.items()
        if name not in EXT_CACHE_KEY_EXCLUDED_FIELDS and value
    }
    if not extra:
        return ""
    serialized = "".join(
        f"{_byte_length(name)}:{name}{_byte_length(value)}:{value}"
        for name, value in sorted(extra.items())
    )
    digest = hashlib.sha256(serialized.encode("utf-8")).digest()
    return b64url_encode(digest).lower()


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8"))
