"""``rigshare demo`` plays the whole product end to end; these run it as a newcomer would."""

from __future__ import annotations

import os

import pytest

from bot.demo.host import engine_from_env, instance_unavailable_reason
from bot.demo.story import run_demo


async def test_the_demo_plays_a_whole_rental_and_money_is_conserved():
    lines: list[str] = []
    figures = await run_demo(lines.append)
    text = "\n".join(lines)
    for step in ("/register 0x", "/addmachine rig1", "/rent 4090 3h", "/extend 1h", "/stop"):
        assert step in text
    assert figures.conserved and figures.gas > 0
    assert "money conservation:" in text and "FAIL" not in text
    assert "PRIVATE KEY" not in text  # the key file is handed over, never printed
    why_not = await instance_unavailable_reason(engine_from_env())
    if why_not is None:
        assert "logged in as root" in text  # a real SSH login into the rental's container
        assert figures.signature_to_login_s is not None
        assert figures.signature_to_login_s < 30  # the goal (3 s) is a benchmark figure
    elif os.environ.get("CI"):
        pytest.fail(f"CI must run the demo with a container engine: {why_not}")
    else:
        assert "SIMULATED instances" in text


async def test_the_dispute_demo_refunds_the_outage_from_the_evidence():
    lines: list[str] = []
    figures = await run_demo(lines.append, dispute=True)
    text = "\n".join(lines)
    assert "/dispute" in text and "decided from the agent's evidence" in text
    assert figures.conserved
    assert figures.renter_credit > 0  # the outage came back to the renter
