"""0800/0810 network management: sign-on (001), sign-off (002) and echo test (301).

Key change (161) belongs to a later issue; until then it is answered 12, so a driver that
tries it learns at once instead of waiting.
"""

from __future__ import annotations

from atmsim.kernel.response_codes import ResponseCode
from atmsim.kernel.wire import IsoMessage

__all__ = ["SIGN_ON", "SIGN_OFF", "ECHO_TEST", "KEY_CHANGE", "answer_network_management"]

SIGN_ON, SIGN_OFF, ECHO_TEST, KEY_CHANGE = "001", "002", "301", "161"
_ECHOED = ("7", "11", "32", "37", "41", "70")


def answer_network_management(request: IsoMessage, known_terminal: bool,
                              signed_on: set[str]) -> IsoMessage:
    """The 0810 for an 0800; ``signed_on`` is the connection's set of signed-on terminals."""
    response: IsoMessage = {"t": "0810"}
    for number in _ECHOED:
        if number in request:
            response[number] = request[number]
    code = request.get("70")
    terminal = request.get("41", "")
    if code is None or "11" not in request:
        result = ResponseCode.FORMAT_ERROR
    elif code in (SIGN_ON, SIGN_OFF) and not known_terminal:
        result = ResponseCode.TERMINAL_NOT_PERMITTED
    elif code == SIGN_ON:
        signed_on.add(terminal)
        result = ResponseCode.APPROVED
    elif code == SIGN_OFF:
        signed_on.discard(terminal)
        result = ResponseCode.APPROVED
    elif code == ECHO_TEST:
        result = ResponseCode.APPROVED
    else:
        result = ResponseCode.UNSUPPORTED_TRANSACTION
    response["39"] = result.value
    return dict(sorted(response.items(), key=lambda kv: -1 if kv[0] == "t" else int(kv[0])))
