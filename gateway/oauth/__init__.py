"""vmcp as the OAuth 2.1 authorization server of its own virtual servers (issue #15).

Per tenant, issuer ``<PUBLIC_BASE_URL>/t/<tenant>/oauth``. Interactive MCP clients discover it
from a virtual server's 401 and protected-resource metadata, register (CIMD or DCR), send the
user through ``authorize`` (→ the tenant's OpenID provider → consent) and get, at ``token``, a
vmcp session token for that virtual server and user plus a rotating refresh token.

Modules: ``errors`` (RFC 6749 error responses), ``policy`` (the tenant's settings and the
redirect-URI / client-domain allow-lists), ``clients`` (DCR and CIMD), ``idp`` (the OpenID
relying party), ``flow`` (authorize → sign-in → consent → code), ``grants`` (token, refresh,
revoke), ``metadata`` (RFC 8414 / RFC 9728 documents), ``views`` and ``apis`` (the edges).

Why hand-written rather than Authlib's ``AuthorizationServer``: its Django integration is built
around its own client/token model mixins and Django's request cycle, while the access token here
must be a vmcp session token minted by ``accounts.services.sessions`` (with its readiness check
and audit) and the client registry mixes CIMD documents with DCR rows. The grant logic is small
(two grant types, public clients, PKCE S256 only); Authlib is used where it removes real code:
the PKCE S256 transform and the IdP side's token exchange helpers, and joserfc (Authlib's JOSE
successor, same maintainer) validates the IdP's ID token.
"""
