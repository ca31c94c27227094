"""Federated users on username/password: WS-Trust with a federation server (AD FS), no I/O.

For a user whose domain is federated (user realm discovery says ``Federated``), MSAL does
not send the password to Entra: it reads the federation server's metadata exchange (MEX)
document, picks its username/password ("usernamemixed") WS-Trust endpoint
(:mod:`.mex`), posts a RequestSecurityToken with the username and password to it
(:mod:`.rst`), takes the SAML assertion out of the answer (:mod:`.rstr`) and redeems that
at the token endpoint with a SAML bearer grant (``grants/saml_bearer.py``).
"""
