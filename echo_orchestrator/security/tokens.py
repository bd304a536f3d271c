"""JWT bearer tokens: the service as an OAuth 2.0 resource server.

An HS256 shared secret, or a JWKS (a file, or an identity provider's URL) for RS256 and
ES256 tokens. A JWKS from a URL is cached by PyJWT's client and fetched again when a token
names a key id it has not seen (key rotation), at most once per cool-down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jwt

from echo_orchestrator.errors import ConfigurationError, Unauthorized

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Clock skew between the identity provider and this machine.
LEEWAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    scopes: frozenset[str]


class _FileKeys:
    """A JWKS file, read again when it changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._load()

    def _load(self) -> None:
        try:
            mtime = self._path.stat().st_mtime
            if mtime == self._mtime:
                return
            keys = jwt.PyJWKSet.from_json(self._path.read_text(encoding="utf-8")).keys
        except (OSError, jwt.PyJWKSetError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"Cannot read the JWKS file: {exc}") from None
        self._keys = {str(k.key_id or ""): k for k in keys}
        self._mtime = mtime

    def key_for(self, token: str) -> jwt.PyJWK:
        self._load()
        kid = str(jwt.get_unverified_header(token).get("kid") or "")
        if kid in self._keys:
            return self._keys[kid]
        if not kid and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise Unauthorized("The token's key is not in the JWKS")


class TokenVerifier:
    def __init__(self, *, secret: str = "", jwks: str = "", issuer: str = "", audience: str = "") -> None:
        if not secret and not jwks:
            raise ConfigurationError("A token verifier needs ECHO_JWT_SECRET or ECHO_JWT_JWKS")
        self._secret = secret
        self._issuer = issuer or None
        self._audience = audience or None
        self._client: jwt.PyJWKClient | None = None
        self._file: _FileKeys | None = None
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_jwk_set=True, lifespan=300, timeout=10)
        elif jwks:
            self._file = _FileKeys(Path(jwks))

    async def verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("The bearer token is not a valid JWT") from None
        algorithm = str(header.get("alg", ""))
        key: Any
        if algorithm == "HS256" and self._secret:
            key, algorithms = self._secret, ["HS256"]
        elif algorithm in ASYMMETRIC and (self._client is not None or self._file is not None):
            key = await self._signing_key(token)
            algorithms = [algorithm]
        else:
            raise Unauthorized(f"Tokens signed with {algorithm or 'no algorithm'} are not accepted here")
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The bearer token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("The bearer token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("The bearer token was not issued by the expected issuer") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The bearer token is not valid: {exc}") from None
        return TokenClaims(subject=str(claims["sub"]), scopes=_scopes(claims))

    async def _signing_key(self, token: str) -> Any:
        if self._file is not None:
            return self._file.key_for(token).key
        assert self._client is not None
        client = self._client
        try:
            # PyJWT fetches with urllib, which blocks: a worker thread, not the event loop.
            found = await anyio.to_thread.run_sync(client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise Unauthorized("The identity provider's keys could not be fetched") from None
        except jwt.PyJWKClientError as exc:
            raise Unauthorized(f"The token's key is not in the JWKS: {exc}") from None
        return found.key


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(s) for s in raw)
    return frozenset()
