"""The ID token is checked against algorithms vmcp pins, not the ones discovery offers, and a
token issued for several audiences must name vmcp as its authorized party."""

from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from gateway.models import OAuthSettings
from gateway.oauth import idp

ISSUER = "https://idp.example.test"
CLIENT = "vmcp-acme"
SHARED = b"an-hmac-key-the-jwks-publishes-00"


@pytest.fixture
def rsa(monkeypatch) -> RSAKey:  # noqa: ANN001
    key = RSAKey.generate_key(2048, parameters={"kid": "r1"})
    oct_jwk = {"kty": "oct", "kid": "h1", "k": base64.urlsafe_b64encode(SHARED).decode()}
    jwks = {"keys": [*KeySet([key]).as_dict(private=False)["keys"], oct_jwk]}
    monkeypatch.setattr(idp, "_cached", lambda url: jwks)
    return key


def verify(token: str, algorithms: list[str]) -> dict:
    document = {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/jwks",
        "id_token_signing_alg_values_supported": algorithms,
    }
    row = OAuthSettings(pk=1, idp_client_id=CLIENT)
    return idp._verify_id_token(id_token=token, document=document, row=row, nonce="n-1")


def claims(**extra: object) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "nonce": "n-1", "exp": now + 60, **extra}


def test_an_rs256_token_for_vmcp_is_accepted(rsa):
    token = jwt.encode({"alg": "RS256", "kid": "r1"}, claims(), rsa)
    assert verify(token, ["RS256"])["sub"] == "u1"


def test_an_hmac_token_is_refused_even_when_discovery_offers_hs256(rsa):
    forged = jwt.encode(
        {"alg": "HS256", "kid": "h1"}, claims(sub="admin"), OctKey.import_key(SHARED)
    )
    with pytest.raises(idp.SignInFailed):
        verify(forged, ["HS256", "RS256"])


def test_a_token_for_several_audiences_must_name_vmcp_as_azp(rsa):
    several = claims(aud=[CLIENT, "other-app"])
    with pytest.raises(idp.SignInFailed, match="azp"):
        verify(jwt.encode({"alg": "RS256", "kid": "r1"}, several, rsa), ["RS256"])
    with pytest.raises(idp.SignInFailed, match="azp"):
        verify(
            jwt.encode({"alg": "RS256", "kid": "r1"}, {**several, "azp": "other-app"}, rsa),
            ["RS256"],
        )
    named = jwt.encode({"alg": "RS256", "kid": "r1"}, {**several, "azp": CLIENT}, rsa)
    assert verify(named, ["RS256"])["sub"] == "u1"
