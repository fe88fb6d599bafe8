"""What a command handler may use besides its request: the LMK, firmware, randomness.

Handlers get an :class:`HsmContext` so that they stay pure functions of
(request fields, context) and can be tested without sockets.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from hsm_mock.errors import KEY_LENGTH_ERROR, HsmError
from hsm_mock.keys import EncryptedKey, Key
from hsm_mock.lmk import VariantLmk

__all__ = ["DEFAULT_FIRMWARE", "HsmContext"]

# Shape "xxxx-xxxx" (9A) as NC reports it; the value marks this as the mock.
DEFAULT_FIRMWARE = "0007-E000"


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
        ``lengths`` gives 27.
        """
        if encrypted.length not in lengths:
            raise HsmError(KEY_LENGTH_ERROR, field="key")
        key = self.lmk.decrypt_key(encrypted, key_type)
        if not key.has_odd_parity:
            raise HsmError(parity_error, field="key")
        return key
