"""The token verifier: runs :data:`~stsproxy.verify.checks.CHECKS` against a runtime-replaceable issuer set."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence

from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jws import JWSAlgModel

from ..ports import Clock
from ..settings import TokenValidationSettings
from .checks import CHECKS, TokenUnderTest
from .jwks import MAX_CACHED_ISSUERS, JwksCache, JwksSource
from .model import TrustedIssuer, VerifiedToken


class TokenVerifier:
    """Verifies web-identity tokens against a runtime-replaceable set of trusted issuers."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        settings: TokenValidationSettings,
        *,
        clock: Clock,
        max_cached_issuers: int = MAX_CACHED_ISSUERS,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.jwks = JwksCache(settings, clock, max_issuers=max_cached_issuers)
        self._issuers: dict[str, TrustedIssuer] = {}
        self._algorithms: dict[str, JWSAlgModel] = {}
        self._retired: list[JwksSource] = []
        self.replace_issuers(issuers)

    # ------------------------------------------------------------------ what the checks see

    def now(self) -> float:
        return self._clock.now()

    def trusted(self, iss: str) -> TrustedIssuer | None:
        return self._issuers.get(iss)

    def algorithm(self, alg: str) -> JWSAlgModel:
        """joserfc's implementation of ``alg`` (only algorithms the alg-allowed check let through)."""
        model = self._algorithms.get(alg)
        if model is None:
            registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
            with warnings.catch_warnings():  # EdDSA is allowed on purpose by configuration; joserfc warns
                warnings.simplefilter("ignore", SecurityWarning)
                model = self._algorithms[alg] = registry.get_alg(alg)
        return model

    # ------------------------------------------------------------------ lifecycle

    @property
    def issuers(self) -> tuple[TrustedIssuer, ...]:
        return tuple(self._issuers.values())

    def replace_issuers(self, issuers: Iterable[TrustedIssuer]) -> None:
        """Swap the trusted set; cached keys survive only for unchanged (issuer, source) pairs."""
        new = {item.issuer: item for item in issuers}
        live = {id(item.jwks_source) for item in new.values()}
        for old in self._issuers.values():
            if id(old.jwks_source) not in live:
                self._retired.append(old.jwks_source)
        self.jwks.keep_only({iss: item.jwks_source for iss, item in new.items()})
        self._issuers = new

    def invalidate(self, issuer: str) -> None:
        """Forget the cached keys of ``issuer`` (its key set changed); the next token refetches."""
        self.jwks.invalidate(issuer)

    async def close(self) -> None:
        sources = {id(s): s for s in self._retired}
        sources.update({id(i.jwks_source): i.jwks_source for i in self._issuers.values()})
        self._retired.clear()
        for source in sources.values():
            closer = getattr(source, "close", None)
            if closer is not None:
                await closer()

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for source in retired:
            closer = getattr(source, "close", None)
            if closer is not None:
                await closer()

    # ------------------------------------------------------------------ the pipeline

    async def verify(self, token: str) -> VerifiedToken:
        """Run every check in order; the first failure raises its mapped STS error."""
        if self._retired:
            await self._close_retired()
        raw = token.encode("utf-8", errors="surrogatepass")
        t = TokenUnderTest(token, raw)
        for check in CHECKS:
            if check.is_async:
                await check.run(t, self)  # type: ignore[misc]
            else:
                check.run(t, self)
        assert t.issuer is not None
        return VerifiedToken(
            claims=t.claims,
            header=t.header,
            issuer=t.issuer,
            kid=t.kid,
            alg=t.alg,
            audience=t.audience,
            token_hash=hashlib.sha256(raw).hexdigest(),
        )
