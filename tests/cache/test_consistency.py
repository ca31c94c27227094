"""Indices stay consistent with the sections under random operations (seeded)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from identitylib._cache import SerializableTokenCache, assertion_hash
from identitylib._cache._event import USED_REFRESH_TOKEN
from identitylib._cache._index import AccessTokenIndex, FieldIndex, SectionIndex, build_indices
from identitylib._cache._keys import access_token_key

from ._builders import HOST, NOW, client_credentials_event, user_event

AT, RT, IDT, ACCOUNT, APP = "AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"
ISOLATING = ("key_id", "ext_cache_key", "user_assertion_hash")
EXACT_FIELDS = ("home_account_id", "environment", "client_id", "realm")
SCOPES = ["User.Read", "user.read", "Mail.Send", "email", "openid", "profile", "api://x/.default"]
CLIENTS = ["cid", "cid2", "CID3"]
USERS = ["u1", "u2", "u3", "u4"]
TENANTS = ["tid", "t2"]
HOSTS = [HOST, "login.windows.net"]


def exact_key(target: Any, query: Any) -> str | None:
    """The AT key msal's search looks up first (it yields that entry expired or not)."""
    if not target or not query or not all(f in query for f in EXACT_FIELDS):
        return None
    return access_token_key(
        **{f: query[f] for f in EXACT_FIELDS}, target=" ".join(sorted(target))
    )


def brute_search(sections: dict[str, Any], kind: str, target: Any, query: Any, now: int) -> list:
    """Reference semantics, by scanning every entry of the section."""
    wanted = {scope.lower() for scope in target or []}
    exact = exact_key(target, query) if kind == AT else None
    found = []
    for key, entry in sections.get(kind, {}).items():
        if kind == AT and int(entry["expires_on"]) < now and key != exact:
            continue
        ok = True
        for name, value in (query or {}).items():
            if name not in entry:
                ok = False
            elif name == "environment" and isinstance(value, str):
                ok = ok and str(entry[name]).lower() == value.lower()
            else:
                ok = ok and entry[name] == value
        for field in ISOLATING if kind == AT else ():
            named = field in (query or {})
            # An OBO token is its user's: only a query for app tokens (home None) skips it.
            users_own = field == "user_assertion_hash" and (
                (query or {}).get("home_account_id") or "home_account_id" not in (query or {})
            )
            if entry.get(field) and not named and not users_own:
                ok = False
        if wanted and not wanted <= set(str(entry.get("target", "")).lower().split()):
            ok = False
        if ok:
            found.append(entry)
    return found


def ids(entries: Any) -> list[str]:
    return sorted(json.dumps(entry, sort_keys=True) for entry in entries)


def snapshot(indices: dict[str, SectionIndex]) -> dict[str, Any]:
    """Plain comparable structures of all indices (empty buckets are a bug too)."""

    def field(index: FieldIndex) -> Any:
        return {repr(k): sorted(v) for k, v in index._buckets.items()}

    def access(index: AccessTokenIndex | None) -> Any:
        if index is None:
            return None
        return tokens(index), counted(index)

    def counted(index: AccessTokenIndex) -> Any:
        homes = index._assertion_homes
        return (
            {repr(k): sorted(v) for k, v in index._owners.items()},
            {repr(k): {repr(h): n for h, n in v.items()} for k, v in homes.items()},
            {repr(k): n for k, n in index._scope_counts.items()},
        )

    def tokens(index: AccessTokenIndex) -> Any:
        return {
            repr(app): {
                repr(home): {
                    repr(partition): (
                        sorted(bucket.keys),
                        {
                            scope: sorted([p] if isinstance(p, str) else p)
                            for scope, p in bucket.by_scope.items()
                        },
                    )
                    for partition, bucket in partitions.items()
                }
                for home, partitions in homes.items()
            }
            for app, homes in index._apps.items()
        }

    return {
        kind: ([field(i) for i in section.fields], access(section.access_tokens))
        for kind, section in indices.items()
    }


def random_event(rng: random.Random) -> dict[str, Any]:
    scopes = rng.sample(SCOPES, rng.randint(1, 3))
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.1:
        data["key_id"] = rng.choice(["k1", "k2"])
    elif roll < 0.2:
        data["fmi_path"] = rng.choice(["p1", "p2"])
    elif roll < 0.3:
        extra["user_assertion_hash"] = assertion_hash(rng.choice(["a1", "a2"]))
    expires_in = rng.choice([5, 3600, "120", 7200])
    if rng.random() < 0.35:
        event = client_credentials_event(
            scopes,
            client_id=rng.choice(CLIENTS),
            access_token=f"app{rng.random()}",
            tenant=rng.choice(TENANTS),
            expires_in=expires_in,
            data=data,
            **extra,
        )
    else:
        event = user_event(
            uid=rng.choice(USERS),
            client_id=rng.choice(CLIENTS),
            requested=scopes,
            granted=" ".join(scopes) if rng.random() < 0.7 else None,
            access_token=f"at{rng.random()}",
            refresh_token=f"rt{rng.random()}",
            foci=rng.choice([None, "1"]),
            tenant=rng.choice(TENANTS),
            username=rng.choice(["Alice@x.com", "alice@x.com", "bob@x.com"]),
            expires_in=expires_in,
            **extra,
        )
        event["data"].update(data)
    event["environment"] = rng.choice(HOSTS)
    return event


def random_entry(rng: random.Random, cache: SerializableTokenCache, kind: str) -> Any:
    section = cache._cache.get(kind) or {}
    return rng.choice(list(section.values())) if section else None


def random_query(rng: random.Random, kind: str) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "client_id": rng.choice(CLIENTS),
        "environment": rng.choice([*HOSTS, HOST.upper()]),
        "realm": rng.choice(TENANTS),
        "home_account_id": rng.choice([None, *(f"{u}.{t}" for u in USERS for t in TENANTS)]),
        "key_id": rng.choice(["k1", "k2", None]),
        "family_id": rng.choice(["1", None]),
        "username": rng.choice(["Alice@x.com", "alice@x.com", "bob@x.com"]),
        "user_assertion_hash": assertion_hash(rng.choice(["a1", "a2"])),
    }
    common = ["client_id", "environment", "home_account_id"]
    names = {
        AT: [*common, "realm", "key_id", "user_assertion_hash"],
        RT: [*common, "family_id", "user_assertion_hash"],
        IDT: [*common, "realm"],
        ACCOUNT: ["environment", "home_account_id", "username", "realm"],
        APP: ["environment", "client_id", "family_id"],
    }[kind]
    if kind == AT and rng.random() < 0.5:  # The application's own lookup shape.
        chosen = ["client_id", "environment", "realm", "home_account_id"]
        chosen += [f for f in ("key_id", "user_assertion_hash") if rng.random() < 0.15]
    else:
        chosen = rng.sample(names, rng.randint(0, len(names)))
    return {name: pool[name] for name in chosen}


def check_queries(rng: random.Random, cache: SerializableTokenCache, now: int) -> None:
    for kind in (AT, AT, AT, RT, IDT, ACCOUNT, APP):
        query = random_query(rng, kind)
        target = rng.sample(SCOPES, rng.randint(0, 2)) if kind in (AT, RT) else None
        expected = ids(brute_search(cache._cache, kind, target, query, now))
        assert ids(cache.search(kind, target=target, query=query, now=now)) == expected, query
    home, env = f"{rng.choice(USERS)}.{rng.choice(TENANTS)}", rng.choice(HOSTS)
    owned = cache._entries_of_account(home, env)
    for kind in (AT, RT, IDT, ACCOUNT):
        expected = [
            e
            for e in cache._cache.get(kind, {}).values()
            if e.get("home_account_id") == home and e["environment"] == env
        ]
        assert ids(owned[kind]) == ids(expected)
    client = rng.choice(CLIENTS)
    apps = [
        e
        for e in cache._cache.get(AT, {}).values()
        if not e["home_account_id"] and e["client_id"] == client and e["environment"] == env
    ]
    assert ids(cache._app_access_tokens(client, env.upper())) == ids(apps)
    username = rng.choice(["ALICE@x.com", "bob@x.com", None])
    accounts = [
        e
        for e in cache._cache.get(ACCOUNT, {}).values()
        if e["environment"] == env
        and (username is None or e["username"].lower() == username.lower())
    ]
    assert ids(cache._accounts(env, username)) == ids(accounts)


def random_operation(rng: random.Random, cache: SerializableTokenCache) -> None:
    roll = rng.random()
    if roll < 0.45:
        cache.add(random_event(rng), now=NOW)
    elif roll < 0.55:
        rt = random_entry(rng, cache, RT)
        if rt:
            event = user_event(
                uid=rng.choice(USERS), grant_type="refresh_token", refresh_token=f"r{roll}"
            )
            event[USED_REFRESH_TOKEN] = rt
            cache.add(event, now=NOW)
    elif roll < 0.65:
        kind = rng.choice([AT, RT, IDT, ACCOUNT])
        entry = random_entry(rng, cache, kind)
        if entry:
            remover = {
                AT: cache.remove_at,
                RT: cache.remove_rt,
                IDT: cache.remove_idt,
                ACCOUNT: cache.remove_account,
            }[kind]
            remover(entry)
    elif roll < 0.75:
        kind = rng.choice([AT, RT, IDT, ACCOUNT])
        entry = random_entry(rng, cache, kind)
        if entry:  # Field changes that move the entry between index buckets.
            changes = rng.choice(
                [
                    {"home_account_id": f"{rng.choice(USERS)}.tid"},
                    {"target": " ".join(rng.sample(SCOPES, 2))},
                    {"environment": rng.choice(HOSTS)},
                    {"key_id": "k1"},
                    {"username": "Carol@x.com"},
                    {"family_id": "1"},
                ]
            )
            cache.modify(kind, entry, changes)
    elif roll < 0.8:
        rt = random_entry(rng, cache, RT)
        if rt:
            cache.update_rt(rt, f"updated{roll}")
    elif roll < 0.85:
        cache.deserialize(cache.serialize())
    elif roll < 0.9:
        entry = random_entry(rng, cache, AT)
        if entry:  # Editing the sections directly must not break later lookups.
            cache._cache[AT][f"poked-{roll}"] = dict(entry, secret=f"poked{roll}")
    else:
        now = NOW + rng.choice([0, 10, 200, 5000])
        list(cache.search(AT, query={"environment": rng.choice(HOSTS)}, now=now))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_match_a_brute_force_scan(seed):
    rng = random.Random(seed)
    cache = SerializableTokenCache()
    for _ in range(400):
        random_operation(rng, cache)
        check_queries(rng, cache, NOW + rng.choice([0, 0, 60, 6000]))
        cache._synced()
        assert snapshot(cache._store.indices) == snapshot(build_indices(cache._cache))
