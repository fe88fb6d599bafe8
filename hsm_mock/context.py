"""What a command handler may use besides its request: the LMK, firmware, randomness,
the security settings and the HSM's own status counters.

Handlers get an :class:`HsmContext` so that they stay pure functions of
(request fields, context) and can be tested without sockets.

Keys arrive encrypted under the LMK in every request, and a switch sends the same
few (its TPKs, its PVKs) over and over. Decrypting one costs two or three TDES
operations, so :meth:`HsmContext.key` keeps the last few thousand decrypted keys in
an in-memory LRU keyed by (key type, cryptogram). Nothing is persisted: the cache
dies with the process, as the HSM's working memory would.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from atmsim.kernel.crypto.errors import KEY_LENGTH_ERROR, HsmError
from hsm_mock.fields import DEFAULT_LMK_IDS
from hsm_mock.keys import EncryptedKey, Key
from hsm_mock.lmk import VariantLmk
from hsm_mock.security import SecuritySettings
from hsm_mock.status import HsmStatus

__all__ = ["DEFAULT_FIRMWARE", "KEY_CACHE_SIZE", "HsmContext"]

# Shape "xxxx-xxxx" (9A) as NC reports it; the value marks this as the mock.
DEFAULT_FIRMWARE = "0007-E000"
KEY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class HsmContext:
    """The HSM's state as seen by a handler.

    >>> ctx = HsmContext(VariantLmk.test())
    >>> clear = bytes.fromhex("E5DC0880CE4094C21A89FB6EC204B0E6")
    >>> tpk = VariantLmk.test().encrypt_key(clear, "002")
    >>> ctx.key(EncryptedKey.parse(tpk), "002", parity_error="10")
    <Key type=002 kcv=363645>
    """

    lmk: VariantLmk
    firmware: str = DEFAULT_FIRMWARE
    rng: Callable[[int], bytes] = field(default=secrets.token_bytes, repr=False)
    lmk_ids: frozenset[str] = DEFAULT_LMK_IDS
    security: SecuritySettings = field(default_factory=SecuritySettings)
    # Mutable on purpose: the server counts into it, the status commands read it.
    status: HsmStatus = field(default_factory=HsmStatus, compare=False, repr=False)
    _decrypt: Callable[[str, str], Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lmk = self.lmk

        def decrypt(cryptogram: str, key_type: str) -> Key:
            return lmk.decrypt_key(cryptogram, key_type)

        # A frozen dataclass still gets its per-instance cache this way.
        object.__setattr__(self, "_decrypt", lru_cache(maxsize=KEY_CACHE_SIZE)(decrypt))

    def key(
        self,
        encrypted: EncryptedKey,
        key_type: str,
        *,
        parity_error: str,
        lengths: tuple[int, ...] = (8, 16, 24),
    ) -> Key:
        """Decrypt a key from the request and check what the command requires.

        ``parity_error`` is 10 or 11 depending on the key's place in the command
        (source or destination, first or second key); a length outside
        ``lengths`` gives 27. The security settings decide which schemes are read (26).
        """
        encrypted = self.security.key_under_lmk(encrypted)
        if encrypted.length not in lengths:
            raise HsmError(KEY_LENGTH_ERROR, field="key")
        key = self._decrypt(str(encrypted), key_type.upper())
        if not key.has_odd_parity:
            raise HsmError(parity_error, field="key")
        return key
