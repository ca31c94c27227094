"""How much Redis a RedisTokenCache needs: keys and bytes per cached user, extrapolated.

A measurement, not a test. It writes a scaled-down population through the real
``RedisTokenCache`` (the same partitions, merge script and expiry a service gets): users
of a web app, each with an account, an ID token, a refresh token and two access tokens
(Microsoft Graph and an API of the app's own), and app-only tokens of a daemon for some
tenants, all with token sizes like Microsoft Entra ID's (``--at-bytes``,
``--rt-bytes``, ``--id-token-bytes``). Then it asks Redis what that costs
(``MEMORY USAGE`` of every key, ``STRLEN``, ``TTL``, and ``used_memory`` from
``INFO memory`` before and after) and extrapolates to a million users.

    .venv/bin/python bench/redis_sizing.py                  # 2,000 users, private server
    .venv/bin/python bench/redis_sizing.py --users 20000 --json sizing.json
    .venv/bin/python bench/redis_sizing.py --url redis://127.0.0.1:6379/0   # a server of yours

Without ``--url`` it starts a private ``redis-server`` on a free 127.0.0.1 port with
persistence off, in a temporary directory, and stops it at the end. With ``--url`` it
writes under a fresh random prefix and deletes those keys at the end (never FLUSHDB);
``used_memory`` then includes whatever else the server does meanwhile.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from identitylib import RedisTokenCache

HOST = "login.microsoftonline.com"
WEB_CLIENT = "5f1c0b0e-7a43-4c3f-9b0e-3a7f9c1d2e4f"
DAEMON_CLIENT = "9d2e4f5f-1c0b-4e7a-83c3-f9b0e3a7f9c1"
GRAPH_SCOPES = ["https://graph.microsoft.com/User.Read", "openid", "profile", "offline_access"]
API_SCOPES = ["api://orders/Orders.Read"]
APP_RESOURCES = [
    "https://graph.microsoft.com/.default",
    "api://orders/.default",
    "api://billing/.default",
]
SIGNATURE_CHARS = 342  # base64url of a 2048-bit RS256 signature
MILLION = 1_000_000


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(claims: dict[str, Any], size: int) -> str:
    """A JWT-shaped string of about ``size`` characters: real claims, padded with a claim."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "k1"}).encode())
    signature = b64url(os.urandom(256))[:SIGNATURE_CHARS]
    bare = len(header) + len(b64url(json.dumps(claims).encode())) + len(signature) + 2
    padding = max(0, (size - bare) * 3 // 4 - 12)
    claims = dict(claims, xms_pad=b64url(os.urandom(padding))[:padding])
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def user_events(n: int, tenant: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """A sign-in (auth code: Graph token, refresh and ID tokens), then an API token got
    with the refresh token (its new refresh token would replace the stored one in place:
    left out here, so the partition keeps one, as after a real silent call)."""
    uid = f"0a1b2c3d-0000-4000-8000-{n:012d}"
    username = f"user{n}@contoso.example"
    base = {"oid": uid, "tid": tenant, "iss": f"https://{HOST}/{tenant}/v2.0"}
    id_token = jwt(
        dict(
            base,
            aud=WEB_CLIENT,
            sub=f"sub-{uid}",
            preferred_username=username,
            name=f"User {n}",
            ver="2.0",
        ),
        args.id_token_bytes,
    )
    client_info = b64url(json.dumps({"uid": uid, "utid": tenant}).encode())
    refresh_token = b64url(os.urandom(args.rt_bytes))[: args.rt_bytes]
    events = []
    for grant, scopes, audience in (
        ("authorization_code", GRAPH_SCOPES, "00000003-0000-0000-c000-000000000000"),
        ("refresh_token", API_SCOPES, "api://orders"),
    ):
        response = {
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "expires_in": 4500,
            "ext_expires_in": 4500,
            "access_token": jwt(dict(base, aud=audience, scp="x"), args.at_bytes),
            "id_token": id_token,
            "client_info": client_info,
        }
        if grant == "authorization_code":  # a refresh updates the stored one in place
            response["refresh_token"] = refresh_token
        events.append(
            {
                "client_id": WEB_CLIENT,
                "scope": scopes,
                "token_endpoint": f"https://{HOST}/{tenant}/oauth2/v2.0/token",
                "grant_type": grant,
                "response": response,
                "params": {},
                "data": {"scope": " ".join(scopes)},
                "environment": HOST,
            }
        )
    return events


def app_event(tenant: str, resource: str, args: argparse.Namespace) -> dict[str, Any]:
    token = jwt({"tid": tenant, "aud": resource, "roles": ["Data.Read"]}, args.at_bytes)
    return {
        "client_id": DAEMON_CLIENT,
        "scope": [resource],
        "token_endpoint": f"https://{HOST}/{tenant}/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "response": {"token_type": "Bearer", "expires_in": 3599, "access_token": token},
        "params": {},
        "data": {"scope": resource},
        "environment": HOST,
    }


@contextmanager
def private_server() -> Iterator[str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server not found: install it, or pass --url")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="identitylib-sizing-")
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:
            raise SystemExit("the private redis-server did not start")
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    prefix = f"sizing-{secrets.token_hex(4)}:"
    before = used_memory(client)
    cache = RedisTokenCache(url=url, prefix=prefix, first_level=False, socket_timeout=5)
    tenants = [f"7c1d6a5e-0000-4000-8000-{t:012d}" for t in range(args.tenants)]
    user_keys, app_keys = [], []
    for n in range(args.users):
        tenant = tenants[n % len(tenants)]
        home = f"0a1b2c3d-0000-4000-8000-{n:012d}.{tenant}"  # home_account_id: uid.utid
        for event in user_events(n, tenant, args):
            with cache.access(home, WEB_CLIENT, False):
                cache.add(event)
        user_keys.append(cache.redis_key(home))
    after_users = used_memory(client)
    for tenant in tenants:
        partition = f"{DAEMON_CLIENT}_{tenant}_AppTokenCache"
        for resource in APP_RESOURCES:
            with cache.access(partition, DAEMON_CLIENT, True):
                cache.add(app_event(tenant, resource, args))
        app_keys.append(cache.redis_key(partition))
    after_apps = used_memory(client)
    if cache.unavailable:
        raise SystemExit("Redis failed during the run; the numbers would be wrong")

    def stats(keys: list[str]) -> dict[str, Any]:
        usage = [int(client.memory_usage(key, samples=0)) for key in keys]
        lengths = [int(client.strlen(key)) for key in keys]
        ttls = [int(client.ttl(key)) for key in keys]
        return {
            "keys": len(keys),
            "memory_usage_mean": round(statistics.mean(usage)),
            "memory_usage_max": max(usage),
            "value_bytes_mean": round(statistics.mean(lengths)),
            "ttl_seconds_min": min(ttls),
            "ttl_seconds_max": max(ttls),
        }

    users, apps = stats(user_keys), stats(app_keys)
    per_user_info = (after_users - before) / args.users
    result = {
        "redis_version": client.info("server")["redis_version"],
        "users": args.users,
        "tenants": args.tenants,
        "token_sizes": {
            "access": args.at_bytes,
            "refresh": args.rt_bytes,
            "id": args.id_token_bytes,
        },
        "user_partition": users,
        "app_partition": apps,
        "used_memory_per_user": round(per_user_info),
        "used_memory_per_app_partition": round((after_apps - after_users) / args.tenants),
        "million_users_gib_memory_usage": round(users["memory_usage_mean"] * MILLION / 2**30, 2),
        "million_users_gib_used_memory": round(per_user_info * MILLION / 2**30, 2),
    }
    for key in [*user_keys, *app_keys]:
        client.delete(key)
    client.close()
    return result


def report(result: dict[str, Any]) -> None:
    users, apps = result["user_partition"], result["app_partition"]
    print(
        f"Redis {result['redis_version']}: {result['users']} users in "
        f"{result['tenants']} tenants; token sizes {result['token_sizes']}"
    )
    print(
        f"user partition: 1 key, value {users['value_bytes_mean']} B, MEMORY USAGE "
        f"{users['memory_usage_mean']} B (max {users['memory_usage_max']}), "
        f"TTL {users['ttl_seconds_min']}..{users['ttl_seconds_max']} s"
    )
    print(f"used_memory growth per user: {result['used_memory_per_user']} B")
    print(
        f"app partition ({len(APP_RESOURCES)} tokens): value {apps['value_bytes_mean']} B, "
        f"MEMORY USAGE {apps['memory_usage_mean']} B, "
        f"TTL {apps['ttl_seconds_min']}..{apps['ttl_seconds_max']} s"
    )
    print(
        f"1M users: {result['million_users_gib_memory_usage']} GiB (MEMORY USAGE), "
        f"{result['million_users_gib_used_memory']} GiB (used_memory growth), per copy"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--at-bytes", type=int, default=2200, help="access token length")
    parser.add_argument("--rt-bytes", type=int, default=1400, help="refresh token length")
    parser.add_argument("--id-token-bytes", type=int, default=1300, help="ID token length")
    parser.add_argument("--url", help="an existing Redis (default: a private redis-server)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    if args.url:
        result = measure(args.url, args)
    else:
        with private_server() as url:
            result = measure(url, args)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
