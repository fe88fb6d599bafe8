"""The benchmarks' bare server (the floor every goal is a ratio to) and the skeleton answer
each 0200 with its own STAN and terminal, whatever time it was when they started."""

from __future__ import annotations

import pytest

from atmsim.kernel.wire import default_profile
from benchmarks import bare_server
from benchmarks.codec_cost import inquiry_messages


@pytest.mark.parametrize("field_7", ["1202124740", "1202124749", "0909090909"])
def test_prebuilt_answer_carries_the_requests_stan_and_terminal(
        monkeypatch: pytest.MonkeyPatch, field_7: str) -> None:
    # Field 7 is the clock's: ending in 9 it once moved the STAN one place early, and a
    # tenth of the runs got no answer their ATMs could match.
    request, response = inquiry_messages()
    monkeypatch.setattr(bare_server, "inquiry_messages",
                        lambda: (request, {**response, "7": field_7, "37": "999999999999"}))
    profile = default_profile()
    fixed = bare_server.FixedAnswer(profile)
    for stan, terminal in (("085347", "BNI00042"), ("999999", "BNI99999")):
        raw = fixed.answer(profile.encode({**request, "11": stan, "41": terminal}))
        assert raw is not None
        answer = profile.decode(raw)
        assert (answer["t"], answer["11"], answer["41"]) == ("0210", stan, terminal)
        assert answer["7"] == field_7 and answer["39"] == "00"
