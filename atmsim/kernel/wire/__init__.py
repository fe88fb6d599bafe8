"""ISO 8583 on the wire: the field table, the ``default`` profile and the framing.

Used by the switch and by the ATM side alike, so both ends agree byte for byte.
"""

from atmsim.kernel.wire.framing import FrameError, Framing, read_frame
from atmsim.kernel.wire.profile import IsoMessage, WireError, WireProfile, default_profile

__all__ = ["Framing", "FrameError", "read_frame", "IsoMessage", "WireError", "WireProfile",
           "default_profile"]
