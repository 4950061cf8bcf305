"""Tokens, encryption at rest and password hashing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.fernet import Fernet

from medianest.errors import DecryptionError, InvalidToken
from medianest.security import Encryptor, hash_password, issue_token, token_hash, verify_password, verify_token

SECRET = "s" * 48


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_token_round_trip_keeps_subject_kind_and_data():
    token = issue_token("session", "abc", secret=SECRET, ttl=timedelta(minutes=5), data={"uid": 7})
    claims = verify_token(token, "session", secret=SECRET)
    assert claims.subject == "abc"
    assert claims.kind == "session"
    assert claims.data["uid"] == 7


def test_tampered_payload_is_rejected():
    token = issue_token("session", "abc", secret=SECRET, ttl=timedelta(minutes=5))
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "someone-else"
    with pytest.raises(InvalidToken):
        verify_token(f"{header}.{_b64(forged)}.{signature}", "session", secret=SECRET)


def test_wrong_secret_is_rejected():
    token = issue_token("session", "abc", secret=SECRET, ttl=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        verify_token(token, "session", secret="x" * 48)


def test_expired_token_is_rejected_with_plain_message():
    token = issue_token("session", "abc", secret=SECRET, ttl=timedelta(seconds=-5))
    with pytest.raises(InvalidToken) as info:
        verify_token(token, "session", secret=SECRET)
    assert "expired" in info.value.user_message.lower()


def test_alg_none_is_rejected():
    good = verify_token(issue_token("session", "abc", secret=SECRET, ttl=timedelta(minutes=5)), "session",
                        secret=SECRET)
    payload = {"iss": "medianest", "typ": "session", "sub": good.subject, "iat": 1,
               "exp": int(good.expires_at.timestamp())}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    with pytest.raises(InvalidToken):
        verify_token(unsigned, "session", secret=SECRET)


def test_other_algorithm_is_rejected_even_with_the_right_key():
    payload = {"iss": "medianest", "typ": "session", "sub": "abc", "iat": 1, "exp": 4_000_000_000}
    hs512 = jwt.encode(payload, SECRET, algorithm="HS512")
    with pytest.raises(InvalidToken):
        verify_token(hs512, "session", secret=SECRET)


def test_token_of_another_kind_is_rejected():
    ticket = issue_token("ticket", "abc", secret=SECRET, ttl=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        verify_token(ticket, "session", secret=SECRET)


@pytest.mark.parametrize("junk", ["", "not-a-jwt", "a.b.c", "x" * 5000])
def test_junk_is_rejected(junk):
    with pytest.raises(InvalidToken):
        verify_token(junk, "session", secret=SECRET)


def test_token_hash_is_stable_and_not_the_token():
    assert token_hash("abc") == token_hash("abc")
    assert token_hash("abc") != "abc" and len(token_hash("abc")) == 64


def test_encryption_round_trip_and_randomised_ciphertext():
    enc = Encryptor(Fernet.generate_key().decode())
    first, second = enc.encrypt("plex-token"), enc.encrypt("plex-token")
    assert first != second and "plex-token" not in first
    assert enc.decrypt(first) == "plex-token"


def test_encryption_detects_tampering():
    enc = Encryptor(Fernet.generate_key().decode())
    cipher = bytearray(base64.urlsafe_b64decode(enc.encrypt("secret")))
    cipher[-5] ^= 0x01
    with pytest.raises(DecryptionError):
        enc.decrypt(base64.urlsafe_b64encode(bytes(cipher)).decode())


def test_wrong_key_cannot_decrypt():
    cipher = Encryptor(Fernet.generate_key().decode()).encrypt("secret")
    with pytest.raises(DecryptionError):
        Encryptor(Fernet.generate_key().decode()).decrypt(cipher)


def test_key_rotation_old_data_still_reads_and_rotates_to_the_new_key():
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_cipher = Encryptor(old_key).encrypt("token")
    rotated_enc = Encryptor(f"{new_key},{old_key}")
    assert rotated_enc.decrypt(old_cipher) == "token"
    rotated = rotated_enc.rotate(old_cipher)
    assert Encryptor(new_key).decrypt(rotated) == "token"
    with pytest.raises(DecryptionError):
        Encryptor(old_key).decrypt(rotated)


def test_passphrase_keys_are_derived_consistently():
    phrase = "a long passphrase that is not a fernet key at all"
    assert Encryptor(phrase).decrypt(Encryptor(phrase).encrypt("x")) == "x"


def test_password_hash_verifies_and_is_salted():
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("correct horse battery", first)
    assert not verify_password("wrong", first)
    assert not verify_password("correct horse battery", "garbage")
