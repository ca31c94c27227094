"""The sign-in and sign-out views (routed by ``identitylib.web.django.urls``)."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identitylib.web._errors import RESET_PASSWORD, SignInFailed
from identitylib.web._session import safe_return_url

from ._auth import NAMESPACE, HttpResponseSeeOther, session_of
from ._settings import get_auth


@require_GET
def login(request: HttpRequest) -> HttpResponseRedirect:
    """``GET login?next=/path``: sign in, then go to ``next`` (a path of this site)."""
    auth = get_auth()
    return auth.sign_in(request, safe_return_url(request.GET.get("next"), auth.home))


@require_GET
def user_flow(request: HttpRequest, name: str) -> HttpResponseRedirect:
    """``GET flow/<name>?next=/path``: a B2C user flow (edit profile, password reset)."""
    auth = get_auth()
    if name not in auth.auth.user_flows:
        raise Http404("no such user flow")
    return_to = safe_return_url(request.GET.get("next"), auth.home)
    return auth.sign_in(request, return_to, user_flow=name)


@csrf_exempt  # the provider's form_post: its state is checked against the session instead
@sensitive_post_parameters()  # the code (and any token) stays out of Django's error reports
@require_http_methods(["GET", "POST"])
def redirect(request: HttpRequest) -> HttpResponse:
    """The redirect URI. A ``form_post`` POST comes cross-site, without the
    ``SameSite=Lax`` session cookie: its fields wait on the server and the browser is sent
    on by a 303 to the GET, which has the cookie and completes the sign-in."""
    auth = get_auth()
    if request.method == "POST":
        try:
            state = auth.auth.keep_form_post(request.POST.dict())
        except SignInFailed as failed:
            return _failed(failed)
        query = urlencode({"state": state})
        return HttpResponseSeeOther(f"{reverse(f'{NAMESPACE}:redirect')}?{query}")
    args = request.GET.dict()
    response = args if ("code" in args or "error" in args) else None
    try:
        signed_in = auth.auth.complete_sign_in(
            session_of(request), state=args.get("state"), response=response
        )
    except SignInFailed as failed:
        if failed.password_reset_requested and RESET_PASSWORD in auth.auth.user_flows:
            return auth.sign_in(request, auth.home, user_flow=RESET_PASSWORD)
        return _failed(failed)
    # As django.contrib.auth.login does: a new session key (no session fixation) and a
    # new CSRF token for the signed-in session.
    request.session.cycle_key()
    rotate_token(request)
    return HttpResponseSeeOther(signed_in.return_to)


@require_POST
@csrf_protect
def logout(request: HttpRequest) -> HttpResponseRedirect:
    """``POST logout`` (a form with Django's ``{% csrf_token %}``): forget the user (the
    session and their tokens), then sign out at the provider, which returns to ``home``."""
    auth = get_auth()
    target = request.build_absolute_uri(auth.home)
    try:
        url = auth.auth.sign_out_url(session_of(request), post_logout_redirect_uri=target)
    finally:  # signed out of the site even when the provider's sign-out URL is not to be had
        request.session.flush()
    return HttpResponseSeeOther(url)


def _failed(failed: SignInFailed) -> HttpResponse:
    message = html.escape(failed.error)
    text = (
        f"<!doctype html><title>Sign-in failed</title><body><p>Sign-in failed: {message}</p></body>"
    )
    return HttpResponse(text, status=400, content_type="text/html; charset=utf-8")
