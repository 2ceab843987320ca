"""How many write transactions each renter command costs, on SQLite and PostgreSQL.

Every committed transaction on the write engine is counted (the handled-once ledger's
included) while one update is handled, and the writers that group their writes (the ledger's,
the pending questions') are flushed so their share is counted with the update that caused it. The counts are exact: a change that adds a write to a
command's path shows here.
"""

from __future__ import annotations

from collections.abc import Awaitable

from sqlalchemy import event

from tests.bot.telegram.support import ALICE, BOB, Harness


class Commits:
    def __init__(self, tg: Harness) -> None:
        self.tg = tg
        self.n = 0
        event.listen(tg.app.db.write.sync_engine, "commit", self._count)

    def _count(self, _conn) -> None:  # noqa: ANN001
        self.n += 1

    async def flush(self) -> None:
        await self.tg.front.once.flush()
        await self.tg.front.rig.talk.flush()

    async def of(self, step: Awaitable) -> int:
        await self.flush()
        before = self.n
        await step
        await self.tg.app.settle()  # what the update set going (the wallet's answer) counts
        await self.flush()
        return self.n - before


async def test_write_transactions_per_command(tg_each_db):
    tg = tg_each_db
    await tg.send(ALICE, "/start")
    await tg.send(BOB, "/start")
    commits = Commits(tg)
    counts = {}
    counts["/gpus"] = await commits.of(tg.send(ALICE, "/gpus"))
    counts["/gpus again"] = await commits.of(tg.send(ALICE, "/gpus h100"))
    quote = (await tg.send(ALICE, "/rent h100 3h"))[0]
    counts["/rent found"] = await commits.of(tg.send(BOB, "/rent 4090 3h"))
    counts["/rent nothing free"] = await commits.of(tg.send(BOB, "/rent l4 3h"))
    bobs = (await tg.send(BOB, "/rent 4090 2h"))[0]
    counts["cancel"] = await commits.of(tg.press(BOB, bobs, "Abbrechen"))  # BOB reads German
    counts["confirm"] = await commits.of(tg.press(ALICE, quote, "Confirm"))
    await tg.deliver()
    commits.n = 0
    counts["/status"] = await commits.of(tg.send(ALICE, "/status"))
    counts["/stop"] = await commits.of(tg.send(ALICE, "/stop"))
    # the handled-once ledger writes twice per update (the claim, the done mark; under load
    # the done marks ride with the next claims). Confirm and /stop include what the
    # auto-approving development wallet does at once (a real wallet answers later).
    assert counts == {
        "/gpus": 2,  # the ledger only: a search reads
        "/gpus again": 2,
        # the ledger, the quote (one INSERT: on PostgreSQL without BEGIN/COMMIT), the question
        # "confirm?" for a plain "yes" (written behind, grouped with others under load)
        "/rent found": 4,
        "/rent nothing free": 3,  # the ledger, forgetting BOB's earlier question: no quote
        "cancel": 4,  # the ledger, the quote's one conditional UPDATE, its question forgotten
        "confirm": 11,  # ledger 2, question answered 1, wallet link 1, the wallet and agent 7
        "/status": 2,
        "/stop": 5,  # ledger 2, the stop, the wallet's signature and its chain event
    }


async def test_read_only_commands_open_no_write_transaction_beyond_the_ledger(tg):
    # a write transaction that ends without a commit still held the write connection (on
    # SQLite the one writer, BEGIN IMMEDIATE): reading paths (who is this user, /gpus, /help,
    # /status of nothing) must not open one; the ledger's own two writes are committed
    await tg.send(ALICE, "/start")
    begun = []
    event.listen(tg.app.db.write.sync_engine, "begin", lambda _conn: begun.append(1))
    for line in ("/gpus", "/gpus h100", "/help", "/status"):
        tg.front.identity.forget(ALICE.id)  # the user looked up again, not from the cache
        await tg.front.once.flush()
        begun.clear()
        await tg.send(ALICE, line)
        await tg.front.once.flush()
        assert (line, len(begun)) == (line, 2)
