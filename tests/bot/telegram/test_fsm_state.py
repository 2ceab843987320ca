"""aiogram's FSM state is not read on every update (bot/telegram/state.py): with Redis as the
storage each read was a round trip. The FSM data that buttons keep still works."""

from __future__ import annotations

from tests.bot.telegram.support import ALICE


class Reads:
    """Counts the storage's reads of the state and of the data."""

    def __init__(self, storage) -> None:  # noqa: ANN001 - aiogram's BaseStorage
        self.state = self.data = 0
        get_state, get_data = storage.get_state, storage.get_data

        async def counted_state(key):  # noqa: ANN001, ANN202
            self.state += 1
            return await get_state(key)

        async def counted_data(key):  # noqa: ANN001, ANN202
            self.data += 1
            return await get_data(key)

        storage.get_state, storage.get_data = counted_state, counted_data


async def test_updates_do_not_read_the_fsm_state_and_kept_actions_still_answer(tg):
    reads = Reads(tg.front.dp.fsm.storage)
    await tg.send(ALICE, "/start")
    await tg.send(ALICE, "/help")
    await tg.send(ALICE, "/gpus")
    assert (reads.state, reads.data) == (0, 0)  # nothing kept, nothing read

    (asked,) = await tg.send(ALICE, "/rent a100 3h")  # which A100? a button per choice
    choices = asked.buttons()
    assert choices and all(b["callback_data"].startswith("a:") for b in choices)
    kept = reads.data
    assert kept >= 1  # remembering a button's action reads the chat's data
    calls = await tg.press(ALICE, asked, choices[0]["text"])
    assert reads.data == kept + 1  # the press recalls it
    assert reads.state == 0
    # the recalled line ran: "/rent a100-40gb 3h" (the test market has none free)
    assert [c.text for c in calls if c.method == "sendMessage"] == [
        "No A100 40GB is free right now. Try /gpus to see what is available."
    ]
