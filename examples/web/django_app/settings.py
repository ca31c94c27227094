"""Settings of the Django example site (read from the environment; see run.py)."""

from __future__ import annotations

import os
import secrets

from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
)

AUTHORITY = os.environ.get("IDENTITYLIB_AUTHORITY", f"http://127.0.0.1:8400/{DEMO_TENANT_ID}")
API_SCOPE = os.environ.get("IDENTITYLIB_SCOPE", f"{DEMO_API_URI}/access_as_user")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_hex(32)
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
ROOT_URLCONF = "django_app.urls"
INSTALLED_APPS = ["identitylib.web.django"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "identitylib.web.django.middleware.AuthMiddleware",  # before SessionMiddleware
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Server-side sessions without a database: one process. Several processes share a cache
# (Redis) or the database backend, and then a RedisTokenCache and a RedisSignInStore.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
USE_TZ = True

# The web app: sign-in, sign-out, tokens for the signed-in user.
IDENTITYLIB_WEB = {
    "client_id": os.environ.get("IDENTITYLIB_CLIENT_ID", DEMO_WEB_ID),
    "client_credential": os.environ.get("IDENTITYLIB_SECRET", DEMO_WEB_SECRET),
    "authority": AUTHORITY,
    "scopes": [API_SCOPE],
}
# The web API the site serves at /api/me (and calls itself, for a self-contained demo).
IDENTITYLIB_API = {
    "authority": AUTHORITY,
    "audience": [os.environ.get("IDENTITYLIB_API_ID", DEMO_API_ID), DEMO_API_URI],
}

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.server": {"handlers": ["console"], "level": "INFO"}},
}
