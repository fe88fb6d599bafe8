"""hsm_mock: a payShield-style HSM speaking Thales host commands over TCP.

Layout, following the data path of a PIN verification:

* :mod:`hsm_mock.server` - the TCP server (I/O only);
* :mod:`hsm_mock.protocol` - framing, header echo, dispatch to a command;
* :mod:`hsm_mock.commands` - the command table and one module per command family;
* :mod:`hsm_mock.lmk`, :mod:`hsm_mock.keys`, :mod:`hsm_mock.tdes` - keys under the
  variant LMK, key fields, parity and check values;
* :mod:`hsm_mock.pin_blocks`, :mod:`hsm_mock.pin_verification`,
  :mod:`hsm_mock.pin_under_lmk` - the PIN cryptography, as pure functions.
"""

from hsm_mock.errors import HsmError
from hsm_mock.lmk import VariantLmk
from hsm_mock.server import HsmServer

__all__ = ["HsmError", "HsmServer", "VariantLmk"]
