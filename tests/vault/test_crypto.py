"""The vault's envelope encryption fails closed: only the right key, tenant and record decrypt."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.crypto import (
    DecryptionError,
    MasterKeyRing,
    WrappedKey,
    associated_data,
    decrypt,
    encrypt,
    generate_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from vmcp_platform.errors import ApplicationError

KEY_V1 = bytes(range(32))
KEY_V2 = bytes(range(100, 132))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


RING_V1 = MasterKeyRing.parse(f"1:{_b64(KEY_V1)}")
RING_V2_V1 = MasterKeyRing.parse(f"2:{_b64(KEY_V2)},1:{_b64(KEY_V1)}")
RING_V2_ONLY = MasterKeyRing.parse(f"2:{_b64(KEY_V2)}")


def _aad(**overrides: str | int) -> bytes:
    fields: dict = {
        "tenant_id": "acme",
        "model": "ConnectedAccount",
        "record_id": "42",
        "field": "access_token",
        "key_version": 1,
    }
    return associated_data(**{**fields, **overrides})


# --- secrets -----------------------------------------------------------------------------------


@given(
    plaintext=st.binary(max_size=2048),
    tenant=st.text(),
    model=st.text(),
    record_id=st.text(),
    field=st.text(),
    key_version=st.integers(min_value=0),
)
def test_any_plaintext_round_trips_under_its_own_associated_data(
    plaintext: bytes, tenant: str, model: str, record_id: str, field: str, key_version: int
) -> None:
    data_key = generate_data_key()
    aad = associated_data(
        tenant_id=tenant, model=model, record_id=record_id, field=field, key_version=key_version
    )

    blob = encrypt(data_key, plaintext, aad=aad)

    assert decrypt(data_key, blob, aad=aad) == plaintext
    assert decrypt(data_key, memoryview(blob), aad=aad) == plaintext  # as psycopg returns bytea


def test_blob_is_format_version_nonce_and_ciphertext_with_tag() -> None:
    blob = encrypt(generate_data_key(), b"hello", aad=_aad())

    assert blob[0] == 1
    assert len(blob) == 1 + 12 + len(b"hello") + 16


def test_same_plaintext_encrypts_to_different_nonces_and_ciphertexts() -> None:
    data_key = generate_data_key()

    blobs = [encrypt(data_key, b"same secret", aad=_aad()) for _ in range(50)]

    assert len({blob[1:13] for blob in blobs}) == 50
    assert len(set(blobs)) == 50


def test_every_flipped_bit_in_the_blob_fails_closed() -> None:
    data_key = generate_data_key()
    blob = encrypt(data_key, b"xoxb-secret", aad=_aad())

    for position in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[position] ^= 1 << bit
            with pytest.raises(DecryptionError):
                decrypt(data_key, bytes(tampered), aad=_aad())


def test_every_truncation_of_the_blob_fails_closed() -> None:
    data_key = generate_data_key()
    blob = encrypt(data_key, b"xoxb-secret", aad=_aad())

    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            decrypt(data_key, blob[:length], aad=_aad())


def test_appended_bytes_fail_closed() -> None:
    data_key = generate_data_key()
    blob = encrypt(data_key, b"xoxb-secret", aad=_aad())

    with pytest.raises(DecryptionError):
        decrypt(data_key, blob + b"\x00", aad=_aad())


@pytest.mark.parametrize(
    "other",
    [
        {"tenant_id": "globex"},
        {"model": "OAuthClient"},
        {"record_id": "43"},
        {"field": "refresh_token"},
        {"key_version": 2},
    ],
    ids=["tenant", "model", "record", "field", "key_version"],
)
def test_ciphertext_copied_to_another_binding_does_not_decrypt(other: dict) -> None:
    data_key = generate_data_key()
    blob = encrypt(data_key, b"ya29.secret", aad=_aad())

    with pytest.raises(DecryptionError):
        decrypt(data_key, blob, aad=_aad(**other))


def test_another_data_key_does_not_decrypt() -> None:
    blob = encrypt(generate_data_key(), b"ya29.secret", aad=_aad())

    with pytest.raises(DecryptionError):
        decrypt(generate_data_key(), blob, aad=_aad())


@pytest.mark.parametrize("blob", [None, b"", bytearray(), "not bytes"])
def test_missing_or_empty_blob_fails_closed(blob: object) -> None:
    with pytest.raises(DecryptionError):
        decrypt(generate_data_key(), blob, aad=_aad())  # type: ignore[arg-type]


@pytest.mark.parametrize("data_key", [None, b"", b"short", bytes(33)])
def test_missing_or_malformed_data_key_fails_closed(data_key: object) -> None:
    blob = encrypt(generate_data_key(), b"secret", aad=_aad())

    with pytest.raises(DecryptionError):
        decrypt(data_key, blob, aad=_aad())  # type: ignore[arg-type]


def test_decryption_error_is_an_application_error_that_reveals_nothing() -> None:
    data_key = generate_data_key()
    blob = encrypt(data_key, b"ya29.topsecret", aad=_aad())

    with pytest.raises(DecryptionError) as caught:
        decrypt(data_key, blob, aad=_aad(record_id="43"))

    error = caught.value
    assert isinstance(error, ApplicationError)
    assert (error.code, error.status) == ("vault_decryption_failed", 500)
    assert error.message.startswith("could not decrypt secret")
    assert error.__cause__ is None and error.__suppress_context__
    for leaked in (b"ya29.topsecret", data_key, blob):
        assert leaked.hex() not in error.message and repr(leaked) not in error.message
    assert "topsecret" not in error.message


# --- associated data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"tenant_id": "ab", "model": "c"}, {"tenant_id": "a", "model": "bc"}),
        ({"model": "ab", "record_id": "c"}, {"model": "a", "record_id": "bc"}),
        ({"record_id": "ab", "field": "c"}, {"record_id": "a", "field": "bc"}),
        ({"record_id": "1", "key_version": 23}, {"record_id": "12", "key_version": 3}),
        ({"tenant_id": 'a","model":"b'}, {"tenant_id": "a", "model": "b"}),
        ({"field": "x\x00y"}, {"field": "x"}),
        ({"tenant_id": "", "model": "a"}, {"tenant_id": "a", "model": ""}),
    ],
)
def test_associated_data_never_collides_for_shifted_boundaries(left: dict, right: dict) -> None:
    assert _aad(**left) != _aad(**right)


@given(
    first=st.tuples(st.text(), st.text(), st.text(), st.text(), st.integers()),
    second=st.tuples(st.text(), st.text(), st.text(), st.text(), st.integers()),
)
def test_associated_data_is_injective(first: tuple, second: tuple) -> None:
    names = ("tenant_id", "model", "record_id", "field", "key_version")

    encoded = [
        associated_data(**dict(zip(names, values, strict=True))) for values in (first, second)
    ]

    assert (encoded[0] == encoded[1]) == (first == second)


def test_associated_data_rejects_non_string_fields() -> None:
    with pytest.raises(TypeError):
        _aad(record_id=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _aad(key_version=True)


# --- data keys -----------------------------------------------------------------------------------


def test_wrapped_data_key_round_trips_through_its_stored_bytes() -> None:
    data_key = generate_data_key()

    stored = wrap_data_key(RING_V1, data_key, tenant_id="acme").to_bytes()

    wrapped = WrappedKey.from_bytes(memoryview(stored))
    assert wrapped.master_version == 1
    assert unwrap_data_key(RING_V1, wrapped, tenant_id="acme") == data_key


def test_data_keys_are_32_random_bytes() -> None:
    keys = {generate_data_key() for _ in range(20)}

    assert len(keys) == 20
    assert {len(key) for key in keys} == {32}


def test_data_key_wrapped_for_one_tenant_does_not_unwrap_for_another() -> None:
    wrapped = wrap_data_key(RING_V1, generate_data_key(), tenant_id="acme")

    with pytest.raises(DecryptionError):
        unwrap_data_key(RING_V1, wrapped, tenant_id="globex")


def test_every_flipped_byte_of_a_stored_wrapped_key_fails_closed() -> None:
    stored = wrap_data_key(RING_V2_V1, generate_data_key(), tenant_id="acme").to_bytes()

    for position in range(len(stored)):
        tampered = bytearray(stored)
        tampered[position] ^= 0xFF
        with pytest.raises(DecryptionError):
            unwrap_data_key(RING_V2_V1, WrappedKey.from_bytes(tampered), tenant_id="acme")


def test_every_truncation_of_a_stored_wrapped_key_fails_closed() -> None:
    stored = wrap_data_key(RING_V1, generate_data_key(), tenant_id="acme").to_bytes()

    for length in range(len(stored)):
        with pytest.raises(DecryptionError):
            unwrap_data_key(RING_V1, WrappedKey.from_bytes(stored[:length]), tenant_id="acme")


def test_relabelled_master_version_fails_closed() -> None:
    wrapped = wrap_data_key(RING_V2_V1, generate_data_key(), tenant_id="acme")

    relabelled = WrappedKey(master_version=1, blob=wrapped.blob)

    with pytest.raises(DecryptionError):
        unwrap_data_key(RING_V2_V1, relabelled, tenant_id="acme")


def test_key_wrapped_under_v1_still_unwraps_after_rotation_to_v2() -> None:
    data_key = generate_data_key()
    wrapped_before = wrap_data_key(RING_V1, data_key, tenant_id="acme")

    wrapped_after = wrap_data_key(RING_V2_V1, data_key, tenant_id="acme")

    assert unwrap_data_key(RING_V2_V1, wrapped_before, tenant_id="acme") == data_key
    assert wrapped_after.master_version == 2
    assert unwrap_data_key(RING_V2_V1, wrapped_after, tenant_id="acme") == data_key


def test_ring_without_the_wrapping_version_fails_closed() -> None:
    wrapped = wrap_data_key(RING_V1, generate_data_key(), tenant_id="acme")

    with pytest.raises(DecryptionError) as caught:
        unwrap_data_key(RING_V2_ONLY, wrapped, tenant_id="acme")

    assert caught.value.message == "master key version 1 is not configured"


def test_same_version_with_another_key_fails_closed() -> None:
    wrapped = wrap_data_key(RING_V1, generate_data_key(), tenant_id="acme")
    other_ring = MasterKeyRing.parse(MasterKeyRing.generate_value(version=1))

    with pytest.raises(DecryptionError):
        unwrap_data_key(other_ring, wrapped, tenant_id="acme")


@pytest.mark.parametrize("stored", [None, b"", b"\x02" + bytes(40), b"\x01\x00"])
def test_malformed_stored_wrapped_key_fails_closed(stored: bytes | None) -> None:
    with pytest.raises(DecryptionError):
        WrappedKey.from_bytes(stored)


# --- master key ring -----------------------------------------------------------------------------


def test_first_entry_of_the_ring_is_current() -> None:
    assert RING_V2_V1.current_version == 2
    assert RING_V2_V1.versions == (2, 1)
    assert RING_V2_V1.get(1) == KEY_V1
    assert RING_V2_V1.get(2) == KEY_V2


def test_unknown_version_fails_closed() -> None:
    with pytest.raises(DecryptionError):
        RING_V2_V1.get(3)


def test_ring_parse_tolerates_whitespace_around_entries() -> None:
    ring = MasterKeyRing.parse(f" 2 : {_b64(KEY_V2)} ,\n1:{_b64(KEY_V1)}\n")

    assert ring.versions == (2, 1)


def test_generated_value_parses_to_one_fresh_key() -> None:
    ring = MasterKeyRing.parse(MasterKeyRing.generate_value(version=7))

    assert ring.versions == (7,)
    assert len(ring.get(7)) == 32
    assert MasterKeyRing.generate_value() != MasterKeyRing.generate_value()


def test_ring_repr_shows_versions_but_no_key() -> None:
    text = repr(RING_V2_V1) + str(RING_V2_V1)

    assert text.startswith("MasterKeyRing(current_version=2, versions=(2, 1))")
    for key in (KEY_V1, KEY_V2):
        assert _b64(key) not in text and repr(key) not in text and key.hex() not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "VMCP_MASTER_KEYS is empty"),
        ("   ", "VMCP_MASTER_KEYS is empty"),
        (f"{_b64(KEY_V2)}", "VMCP_MASTER_KEYS entry #1 is not of the form"),
        (f"0:{_b64(KEY_V2)}", "VMCP_MASTER_KEYS entry #1 has an invalid version"),
        (f"-1:{_b64(KEY_V2)}", "VMCP_MASTER_KEYS entry #1 has an invalid version"),
        (f"two:{_b64(KEY_V2)}", "VMCP_MASTER_KEYS entry #1 has an invalid version"),
        (f"2:{_b64(KEY_V2)},:{_b64(KEY_V1)}", "VMCP_MASTER_KEYS entry #2 has an invalid version"),
        (f"2:{_b64(KEY_V2)},2:{_b64(KEY_V1)}", "VMCP_MASTER_KEYS entry #2 repeats version 2"),
        (f"2:{_b64(KEY_V2)},", "VMCP_MASTER_KEYS entry #2 is not of the form"),
        (f"2:{_b64(KEY_V2)}!", "VMCP_MASTER_KEYS entry #1 (version 2): key is not valid base64"),
        (f"2:{_b64(KEY_V2)[:-1]}", "VMCP_MASTER_KEYS entry #1 (version 2): key is not valid"),
        (f"2:{_b64(KEY_V2[:16])}", "VMCP_MASTER_KEYS entry #1 (version 2): key must decode to 32"),
        (f"2:{_b64(KEY_V2 + b'x')}", "VMCP_MASTER_KEYS entry #1 (version 2): key must decode"),
    ],
)
def test_malformed_ring_is_refused_naming_the_variable_but_not_the_key(
    value: str, expected: str
) -> None:
    with pytest.raises(ValueError) as caught:
        MasterKeyRing.parse(value)

    message = str(caught.value)
    assert message.startswith(expected)
    for key in (KEY_V1, KEY_V2, KEY_V2[:16], KEY_V2 + b"x"):
        assert _b64(key) not in message
        assert _b64(key)[:12] not in message
