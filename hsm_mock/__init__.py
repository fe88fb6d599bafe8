"""hsm_mock: a payShield-style HSM speaking Thales host commands over TCP.

Layout, following the data path of a PIN verification:

* :mod:`hsm_mock.server` - the TCP/TLS server: frames in, replies out (I/O only);
* :mod:`hsm_mock.protocol` - header echo, trailer, dispatch to a command;
* :mod:`hsm_mock.commands` - the command table and one module per command family;
* :mod:`hsm_mock.lmk`, :mod:`hsm_mock.keys`, :mod:`atmsim.kernel.crypto.tdes` - keys under the
  variant LMK, key fields, parity and check values;
* :mod:`hsm_mock.zmk` - keys under a zone master key (A0 mode 1, A6, A8);
* :mod:`atmsim.kernel.crypto.pin_blocks`, :mod:`hsm_mock.pin_verification`,
  :mod:`hsm_mock.pin_under_lmk`, :mod:`hsm_mock.dukpt` - the PIN cryptography;
* :mod:`atmsim.kernel.crypto.mac` - ISO 9797-1 MAC algorithms 1 and 3;
* :mod:`hsm_mock.card_verification` - CVV/CVC (CW, CY);
* :mod:`hsm_mock.rsa_keys` - RSA key pairs (EI) and signatures (EW): public key DER,
  private key under LMK pair 34-35;
* :mod:`hsm_mock.security` - the key-scheme security settings (ZMK length, X9.17 tags
  under the LMK, single-DES);
* :mod:`hsm_mock.status` - the counters the status commands (NO, NI, J2, J4, J8, JK) report.

All the cryptography is pure functions; docs/hsm.md lists the commands.
"""

from atmsim.kernel.crypto.errors import HsmError
from hsm_mock.lmk import VariantLmk
from hsm_mock.server import HsmServer

__all__ = ["HsmError", "HsmServer", "VariantLmk"]
