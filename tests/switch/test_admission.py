"""Duplicates (94) and the bound on inquiries in progress (91), alone and in a pipeline."""

from __future__ import annotations

import asyncio

import pytest

from atm_switch.admission import admit, reject_duplicate
from atm_switch.deps import SwitchDeps
from atm_switch.pipeline import Context, Decline, run_pipeline
from atmsim.kernel.response_codes import ResponseCode
from tests.switch.conftest import context


async def test_the_same_request_again_is_94(deps: SwitchDeps) -> None:
    await reject_duplicate(context(), deps)
    with pytest.raises(Decline) as caught:
        await reject_duplicate(context(), deps)
    assert caught.value.code is ResponseCode.DUPLICATE
    await reject_duplicate(context(**{"11": "000124"}), deps)  # another STAN is new


async def test_beyond_max_pending_is_91_and_a_slot_comes_back_at_the_end(
        deps: SwitchDeps) -> None:
    deps.slots.limit = 1
    release = asyncio.Event()

    async def holds(ctx: Context, deps: SwitchDeps) -> None:
        await release.wait()

    first = asyncio.create_task(run_pipeline(context(), deps, (admit, holds)))
    await asyncio.sleep(0)
    shed = await run_pipeline(context(), deps, (admit, holds))
    assert (shed.code, shed.reason) == (ResponseCode.UNAVAILABLE,
                                        "switch busy: 1 inquiries in progress")
    release.set()
    assert (await first).code is ResponseCode.APPROVED
    assert deps.slots.in_use == 0 and deps.slots.shed == 1


async def test_a_step_that_fails_ends_with_96_and_frees_its_slot(deps: SwitchDeps) -> None:
    async def breaks(ctx: Context, deps: SwitchDeps) -> None:
        raise RuntimeError("disk full")

    ctx = await run_pipeline(context(), deps, (admit, breaks))
    assert (ctx.code, ctx.reason) == (ResponseCode.INTERNAL_ERROR, "breaks failed")
    assert deps.slots.in_use == 0
