"""Sign-in (password, OpenID Connect), access and refresh tokens, API keys, permissions."""
