"""Redirect-URI patterns are matched part by part: a ``*`` never crosses the host, port or path."""

from __future__ import annotations

import pytest

from gateway.models import OAuthSettings
from gateway.oauth.policy import redirect_uri_allowed


def allowed(uri: str, *patterns: str) -> bool:
    return redirect_uri_allowed(uri, OAuthSettings(pk=1, redirect_uri_patterns=list(patterns)))


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.com/.example.com/cb",
        "https://evil.com/x.example.com/cb",
        "https://evil.com?.example.com/cb",
        "https://evil.com#.example.com/cb",
        "https://example.com.evil.com/cb",
        "https://evil-example.com/cb",
        "https://example.com/cb",  # the apex is not a subdomain
        "https://a.example.com:8443/cb",  # no port in the pattern: none in the URI
        "https://user@a.example.com/cb",
        "https://a.example.com@evil.com/cb",
        "http://a.example.com/cb",
    ],
)
def test_a_subdomain_wildcard_stays_inside_the_hostname(uri):
    assert not allowed(uri, "https://*.example.com/*")


@pytest.mark.parametrize("uri", ["https://a.example.com/cb", "https://a.b.example.com/x/y?z=1"])
def test_a_subdomain_wildcard_matches_subdomains(uri):
    assert allowed(uri, "https://*.example.com/*")


def test_wildcards_inside_a_label_port_and_path_stay_there():
    assert allowed("https://app-7.example.com/cb", "https://app-*.example.com/cb")
    assert not allowed("https://app-7.evil.com/.example.com/cb", "https://app-*.example.com/cb")
    assert not allowed("https://app.example.com/other", "https://app.example.com/cb")
    assert allowed("https://app.example.com/", "https://app.example.com")
    assert not allowed("https://app.example.com/cb", "https://app.example.com")
    assert allowed("https://app.example.com:8443/cb", "https://app.example.com:8443/cb")
    assert not allowed("https://app.example.com:8444/cb", "https://app.example.com:8443/cb")


def test_the_default_patterns_allow_loopback_and_https_and_nothing_else():
    for uri in (
        "http://127.0.0.1:33418/callback",
        "http://localhost:5173/cb",
        "http://[::1]:8080/cb",
        "https://claude.ai/api/mcp/auth_callback",
    ):
        assert allowed(uri), uri
    for uri in (
        "http://127.0.0.1:1@evil.com/cb",
        "http://127.0.0.1.evil.com:80/cb",
        "http://evil.com/127.0.0.1:1/cb",
        "https://user:pw@claude.ai/cb",
        "javascript:alert(1)",
    ):
        assert not allowed(uri), uri


def test_a_private_use_scheme_pattern_matches_only_without_an_authority():
    assert allowed("com.example.app:/oauth/cb", "com.example.app:/oauth/*")
    assert not allowed("com.example.app://evil.com/oauth/cb", "com.example.app:*")
