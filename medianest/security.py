"""Tokens, encryption at rest and password hashing. No I/O, no framework imports."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.fernet import Fernet, MultiFernet
from cryptography.fernet import InvalidToken as FernetInvalidToken

from .errors import DecryptionError, InvalidToken

ALGORITHM = "HS256"
ISSUER = "medianest"


@dataclass(frozen=True)
class TokenClaims:
    """What a verified MediaNest token says."""

    kind: str
    subject: str
    expires_at: datetime
    data: dict[str, Any]


def issue_token(kind: str, subject: str, *, secret: str, ttl: timedelta, data: dict[str, Any] | None = None) -> str:
    """Sign a short JWT of the given kind (``session``, ``pin``, ``ticket``)."""
    now = datetime.now(UTC)
    payload = {"iss": ISSUER, "typ": kind, "sub": subject, "iat": int(now.timestamp()),
               "exp": int((now + ttl).timestamp()), "jti": uuid.uuid4().hex, **(data or {})}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify_token(token: str, kind: str, *, secret: str) -> TokenClaims:
    """Verify signature, algorithm, expiry, issuer and kind.

    Raises:
        InvalidToken: for anything but a valid token of ``kind``.
    """
    if not token or len(token) > 4096:
        raise InvalidToken(detail="empty or oversized token")
    try:
        # An explicit algorithm list rejects "none" and algorithm-confusion tokens.
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": ["exp", "iat", "sub", "typ", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Your session has expired. Please sign in again.", detail="expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(detail=f"rejected: {type(exc).__name__}") from exc
    if payload.get("typ") != kind:
        raise InvalidToken(detail=f"wrong kind {payload.get('typ')!r}")
    return TokenClaims(kind=kind, subject=str(payload["sub"]),
                       expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
                       data={k: v for k, v in payload.items() if k not in {"iss", "typ", "sub", "iat", "exp"}})


def token_hash(token: str) -> str:
    """What we store instead of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet_for(key: str) -> Fernet:
    """Accept a Fernet key as is; derive one from any other long passphrase."""
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        digest = hashlib.sha256(key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


class Encryptor:
    """Encrypts secrets at rest. The first key encrypts; every key decrypts (rotation)."""

    def __init__(self, keys: str | list[str]) -> None:
        items = [k.strip() for k in (keys.split(",") if isinstance(keys, str) else keys) if k.strip()]
        if not items:
            raise ValueError("at least one encryption key is required")
        self._primary = _fernet_for(items[0])
        self._fernet = MultiFernet([self._primary, *(_fernet_for(k) for k in items[1:])])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except (FernetInvalidToken, ValueError, TypeError) as exc:
            raise DecryptionError(detail="ciphertext rejected by every key") from exc

    def is_current(self, ciphertext: str) -> bool:
        """Whether the newest key (the first) reads this; if not, it is due for ``rotate``."""
        try:
            self._primary.decrypt(ciphertext.encode())
        except (FernetInvalidToken, ValueError, TypeError):
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the newest key."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except (FernetInvalidToken, ValueError, TypeError) as exc:
            raise DecryptionError(detail="ciphertext rejected by every key") from exc


# scrypt parameters: ~16 MiB of memory per hash, well past what GPUs do cheaply.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    encoded = f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
