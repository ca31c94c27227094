"""One module per OAuth 2.0 grant: each builds its token request body, with no I/O."""
