"""Token caches as msal-node and MSAL.NET serialize them, written by hand for the tests.

Each field below says where its value comes from in the other library's source (read on
GitHub: AzureAD/microsoft-authentication-library-for-js, lib/msal-common and
lib/msal-node; AzureAD/microsoft-authentication-library-for-dotnet,
src/client/Microsoft.Identity.Client). Facts that matter here:

* msal-node caches app-only tokens with ``home_account_id`` ``""``
  (``ClientCredentialClient.readAccessTokenFromCache`` filters on ``Constants.EMPTY_STRING``),
  MSAL.NET leaves the field out (``TokenResponseHelper.GetHomeAccountId`` is null without
  client_info or an ID token, and ``SetItemIfValueNotNull`` skips it), msal Python writes
  ``null``.
* Their ``realm`` of an app token is the authority's tenant as the app wrote it
  (``ResponseHandler.generateCacheRecord``: ``claimsTenantId || authority.tenant``;
  ``TokenResponseHelper.GetTenantId``), where msal Python stores the token endpoint's
  tenant (the GUID once discovered). msal-node lower-cases the whole authority URL
  (``UrlString.canonicalizeUri``); their realm of user tokens is the ID token's ``tid``.
* Their ``environment`` is instance discovery's ``preferred_cache``: ``login.windows.net``
  for the public cloud (msal-common ``AuthorityMetadata.ts``, MSAL.NET
  ``KnownMetadataProvider``). For a host instance discovery does not know, msal-node
  uses ``HostNameAndPort`` (``Authority.getCurrentMetadataEntity``) and MSAL.NET
  ``Uri.Host`` without the port (``InstanceDiscoveryManager.CreateEntryForSingleAuthority``).
* Keys: msal-node joins ``home-environment-credentialtype-clientid(or family id for a
  family RT)-realm-target-claimshash-scheme`` in lower case (msal-common
  ``CacheHelpers.generateCredentialKey``), accounts ``home-environment-hometenant``
  (``generateAccountKey``); MSAL.NET ``home-environment-credentialtype-clientid-realm-target``
  (``MsalCacheKeys.GetCredentialKey``), with ``""`` for a missing home account.
* msal-node serializes with the snake-case names of ``Serializer.ts``; MSAL.NET with those
  of ``StorageJsonKeys`` (its key id is ``kid``, its extra key components ``ext``) and
  leaves out a ``token_type`` of ``Bearer`` (``SetItemIfValueNotNullOrDefault``).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Optional

Sections = dict[str, dict[str, dict[str, Any]]]


def _times(lifetime: int = 3599) -> dict[str, str]:
    now = int(time.time())
    return {
        "cached_at": str(now),
        "expires_on": str(now + lifetime),
        "extended_expires_on": str(now + lifetime),
    }


def node_key(*parts: str) -> str:
    """msal-common's credential key: the parts joined by ``-``, lower-cased."""
    return "-".join(parts).lower()


def node_app_token(
    *, environment: str, client_id: str, tenant: str, target: str, secret: str, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """An app-only access token as msal-node's ``acquireTokenByClientCredential`` caches it."""
    realm = tenant.lower()  # authority.tenant of the lower-cased canonical authority
    entry = {
        "home_account_id": "",  # Constants.EMPTY_STRING
        "environment": environment,  # preferred_cache, or HostNameAndPort
        "credential_type": "AccessToken",
        "client_id": client_id,
        "secret": secret,
        "realm": realm,
        "target": target,
        **_times(),
        "token_type": "Bearer",  # createAccessTokenEntity: tokenType || BEARER
        **extra,
    }
    key = node_key("", environment, "AccessToken", client_id, realm, target, "", "")
    return key, entry


def dotnet_app_token(
    *, environment: str, client_id: str, tenant: str, target: str, secret: str, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """An app-only access token as MSAL.NET's ``AcquireTokenForClient`` caches it."""
    times = _times()
    entry = {
        # no home_account_id: null for app tokens, and null values are left out
        "environment": environment,  # PreferredCache: the host, without a port
        "client_id": client_id,
        "secret": secret,
        "credential_type": "AccessToken",
        "realm": tenant,  # AadAuthority.TenantId: the URL's first path segment, as written
        "target": target,
        **times,
        "ext_expires_on": times["extended_expires_on"],  # ExtendedExpiresOn_MsalCompat
        # no token_type: Bearer, the default, is left out
        **extra,
    }
    key = node_key("", environment, "AccessToken", client_id, tenant, target)
    return key, entry


def b64url_json(value: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))))


def node_user_cache(
    signed_in: dict[str, Any],
    *,
    environment: str,
    client_id: str,
    access_token: str,
    target: Optional[str] = None,
) -> Sections:
    """The five sections msal-node writes after a user signed in (``signed_in`` is a real
    token response of the emulator: its refresh token, ID token and client_info), with
    ``access_token`` as the cached access token's secret."""
    info = b64url_json(signed_in["client_info"])
    claims = signed_in["id_token_claims"]
    home = f"{info['uid']}.{info['utid']}"  # AccountEntity.generateHomeAccountId
    tid = claims["tid"]  # getTenantIdFromIdTokenClaims: the realm of user tokens
    scopes = target or signed_in["scope"]  # the response's scope (ScopeSet.printScopes)
    family = signed_in.get("foci")
    account = {
        "home_account_id": home,
        "environment": environment,
        "realm": tid,
        "local_account_id": claims["oid"],
        "username": claims["preferred_username"],
        "authority_type": "MSSTS",
        "name": claims.get("name", ""),
        "client_info": signed_in["client_info"],
        "tenantProfiles": [
            json.dumps(
                {
                    "tenantId": tid,
                    "localAccountId": claims["oid"],
                    "name": claims.get("name", ""),
                    "isHomeTenant": tid == info["utid"],
                }
            )
        ],
    }
    id_token = {
        "home_account_id": home,
        "environment": environment,
        "credential_type": "IdToken",
        "client_id": client_id,
        "secret": signed_in["id_token"],
        "realm": tid,
    }
    access = {
        "home_account_id": home,
        "environment": environment,
        "credential_type": "AccessToken",
        "client_id": client_id,
        "secret": access_token,
        "realm": tid,
        "target": scopes,
        **_times(),
        "token_type": "Bearer",
    }
    refresh = {
        "home_account_id": home,
        "environment": environment,
        "credential_type": "RefreshToken",
        "client_id": client_id,
        "secret": signed_in["refresh_token"],
        **({"family_id": family} if family else {}),
    }
    sections: Sections = {
        "Account": {node_key(home, environment, info["utid"]): account},
        "IdToken": {node_key(home, environment, "IdToken", client_id, tid, "", "", ""): id_token},
        "AccessToken": {
            node_key(home, environment, "AccessToken", client_id, tid, scopes, "", ""): access
        },
        "RefreshToken": {
            # a family RT is keyed by its family id in place of the client id
            node_key(home, environment, "RefreshToken", family or client_id, "", "", "", ""): (
                refresh
            )
        },
        "AppMetadata": {},
    }
    if family:  # written only for a family member (ResponseHandler: serverTokenResponse.foci)
        sections["AppMetadata"][node_key("appmetadata", environment, client_id)] = {
            "client_id": client_id,
            "environment": environment,
            "family_id": family,
        }
    return sections


def cache_json(*entries: tuple[str, dict[str, Any]], sections: Optional[Sections] = None) -> str:
    """A serialized cache with ``entries`` (access tokens) added to ``sections``."""
    result: Sections = {
        name: {} for name in ("Account", "IdToken", "AccessToken", "RefreshToken", "AppMetadata")
    }
    for name, section in (sections or {}).items():
        result[name].update(section)
    for key, entry in entries:
        result["AccessToken"][key] = entry
    return json.dumps(result)
