"""Validating the access tokens a protected web API receives.

::

    from identitylib.validation import AccessTokenValidator, TokenValidationError

    validator = AccessTokenValidator(
        "https://login.microsoftonline.com/<tenant id>",
        audience=["<API client id>", "api://<API app id URI>"],
        required_scopes=["access_as_user"],
    )
    try:
        claims = validator.validate_bearer_header(request.headers.get("Authorization"))
    except TokenValidationError as rejected:
        return Response(status=rejected.status_code,
                        headers={"WWW-Authenticate": rejected.www_authenticate})

Signing keys are fetched through the authority's discovery document and cached for the
whole process (24 h, refetched once on an unknown key id, at most every 5 minutes).
See ``docs/validation.md``.
"""

from ._errors import TokenValidationError
from ._validator import AccessTokenValidator

__all__ = ["AccessTokenValidator", "TokenValidationError"]
