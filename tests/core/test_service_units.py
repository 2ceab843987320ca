"""Service unit tests on the ports: the users, key-value and receipts services, each run on the
in-memory unit of work (tests/fakes/memory_uow/) and on SQLite through the SQLAlchemy one, so
the fake is held to what the database does. The repository rules the fake
must share with the database (unique columns, all-or-nothing GPU holds) and the in-memory unit
of work's own rules (rollback without commit, ids on flush) are tested at the end."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from core.domain.model import Listing, Machine, Provider, Rental, User
from core.domain.rentals import RentalState as S
from core.errors import NotFound, ValidationError
from core.services.kv import MAX_VALUE_CHARS, KeyValueService
from core.services.receipts import ReceiptService
from core.services.users import UserService
from core.services.views import Principal
from tests.core.service_units import free_gpus, holders, host
from tests.fakes.clock import FakeClock
from tests.fakes.memory_uow import MemoryUowFactory, UniqueViolation


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_identify_makes_one_user_and_keeps_the_private_chat(uow, clock):
    users = UserService(uow, clock)
    first = await users.identify("telegram", "42", "ann", lang_hint="de-DE", chat_id="42")
    again = await users.identify("telegram", "42", "ann", chat_id="99", private_chat=False)
    other = await users.identify("discord", "42", "ann")
    assert first.user_id == again.user_id != other.user_id
    assert (first.lang, other.lang) == ("de", "en")
    stored = await users.get(first.user_id)
    assert stored.chat_id == "42"  # a group chat id never replaces the private one


async def test_language_change_is_stored_and_a_bad_one_changes_nothing(uow, clock):
    users = UserService(uow, clock)
    who = await users.identify("telegram", "7", "bo")
    await users.set_lang(who, "de")
    with pytest.raises(ValidationError):
        await users.set_lang(who, "fr")
    assert (await users.get(who.user_id)).lang == "de"


async def test_ssh_key_set_shown_and_unknown_user_refused(uow, clock):
    users = UserService(uow, clock)
    who = await users.identify("telegram", "8", "cy")
    assert (await users.set_ssh_key(who, None)).key == "sshkey.none"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2h0qZy8ohk1r3tzFVlZ0TQXUL7m3ytjNEKWqJ9BqC2"
    assert (await users.set_ssh_key(who, key)).key == "sshkey.set"
    assert (await users.get(who.user_id)).ssh_public_key == key
    with pytest.raises(NotFound):
        await users.set_ssh_key(Principal(who.user_id + 100, "telegram"), key)


async def test_key_values_replace_and_an_oversized_value_changes_nothing(uow, clock):
    kv = KeyValueService(uow, clock)
    assert await kv.get("board") is None
    await kv.put("board", "1")
    await kv.put("board", "2")
    with pytest.raises(ValidationError):
        await kv.put("board", "x" * (MAX_VALUE_CHARS + 1))
    assert await kv.get("board") == "2"


async def _rental(uow, clock, renter_id: int, *, funded: bool, state: str) -> int:
    n = clock.advance(1)  # a provider and machine of its own for each rental
    async with uow() as tx:
        owner = await tx.users.create_or_get(User("telegram", f"p{n}", "p", clock.now()))
        provider = Provider(owner.id, "0x" + "11" * 20, clock.now())
        tx.providers.add(provider)
        await tx.flush()
        machine = Machine(provider.id, f"m{n}", "eu", f"h{n}", clock.now())
        tx.machines.add(machine)
        await tx.flush()
        listing = Listing(machine.id, provider.id, "rtx4090", 1, 24, 400_000, "eu", clock.now())
        tx.listings.add(listing)
        await tx.flush()
        rental = Rental(
            renter_id, listing.id, provider.id, machine.id, "rtx4090", 1, 400_000, 3600,
            400_000, 1000, clock.now(), clock.now() + 300, state=state,
        )  # fmt: skip
        if funded:
            rental.funded_at, rental.started_at = clock.now(), clock.now()
            rental.ended_at = rental.paid_until = clock.now() + 1800
        tx.rentals.add(rental)
        await tx.flush()
        await tx.commit()
        return rental.id


async def test_receipts_show_the_renters_paid_rentals_only(uow, clock):
    users = UserService(uow, clock)
    ann = await users.identify("telegram", "1", "ann")
    bob = await users.identify("telegram", "2", "bob")
    paid = await _rental(uow, clock, ann.user_id, funded=True, state=S.ENDED)
    await _rental(uow, clock, ann.user_id, funded=False, state=S.CANCELLED)
    theirs = await _rental(uow, clock, bob.user_id, funded=True, state=S.ENDED)
    receipts = ReceiptService(uow, clock)
    shown = await receipts.list(ann, export_csv=True)
    assert [r.rental_id for r in shown.receipts] == [paid]
    assert shown.csv is not None and str(paid) in shown.csv
    assert (await receipts.one(ann, paid)).rental_id == paid
    with pytest.raises(NotFound):
        await receipts.one(ann, theirs)


async def test_a_unique_column_refuses_a_second_row_and_keeps_the_first(uow, clock):
    async with uow() as tx:
        owner = await tx.users.create_or_get(User("telegram", "u", "u", clock.now()))
        tx.providers.add(Provider(owner.id, "0x" + "11" * 20, clock.now()))
        await tx.commit()
    with pytest.raises((UniqueViolation, IntegrityError)):
        async with uow() as tx:
            tx.providers.add(Provider(owner.id, "0x" + "22" * 20, clock.now()))
            await tx.commit()
    async with uow(readonly=True) as tx:
        assert (await tx.providers.by_user(owner.id)).payout_address == "0x" + "11" * 20


async def test_a_hold_takes_all_the_gpus_asked_for_or_none(uow, clock):
    pair = await host(uow, clock, "pair", gpus=2)
    async with uow() as tx:  # one GPU vanished and nothing recounted yet: the count says 2
        (await tx.gpus.for_machine(pair.machine_id))[0].present = False
        await tx.commit()
    async with uow() as tx:
        assert await tx.gpus.hold(pair.listing_id, 7, 2, None) is None
        assert (await tx.listings.get(pair.listing_id)).free_gpus == 2  # rolled back
        await tx.gpus.lock_listings(pair.machine_id)
        await tx.gpus.recount(pair.machine_id)
        assert await tx.gpus.hold(pair.listing_id, 7, 1, None) == [pair.gpu_uuids[1]]
        await tx.commit()
    async with uow() as tx:
        assert (await tx.listings.get(pair.listing_id)).free_gpus == 0
        assert await tx.gpus.keep(7) == 1
        assert await tx.gpus.release(7, pair.listing_id) == 1
        await tx.commit()
    assert await holders(uow, pair.machine_id) == [None, None]
    assert await free_gpus(uow, pair.listing_id) == (1, 1)  # the absent GPU stays unoffered


async def test_memory_uow_leaves_no_trace_without_commit():
    factory = MemoryUowFactory()
    with pytest.raises(RuntimeError):
        async with factory() as tx:
            user = await tx.users.create_or_get(User("telegram", "9", "dee", 0))
            await tx.settings.set_value("k", "v")
            raise RuntimeError("the use case failed half-way")
    async with factory() as tx:
        user.display_name = "changed on a detached copy"
        assert await tx.users.by_external("telegram", "9") is None
        assert await tx.settings.get_value("k") is None
    assert factory.store.commits == 0


async def test_memory_uow_commits_only_what_it_changed():
    factory = MemoryUowFactory()
    async with factory() as tx:
        await tx.users.create_or_get(User("telegram", "a", "a", 0))
        await tx.users.create_or_get(User("telegram", "b", "b", 0))
        await tx.commit()
    first, second = factory(), factory()
    async with first as one, second as two:
        (await one.users.get(1)).lang = "de"
        (await two.users.get(2)).lang = "de"
        await one.commit()
        await two.commit()  # its untouched copy of user 1 does not undo the first commit
    async with factory(readonly=True) as tx:
        assert [(await tx.users.get(i)).lang for i in (1, 2)] == ["de", "de"]


async def test_memory_uow_assigns_ids_on_flush_and_never_reuses_them():
    factory = MemoryUowFactory()
    async with factory() as tx:
        a, b = User("telegram", "a", "a", 0), User("telegram", "b", "b", 0)
        tx.users.add(a)
        tx.users.add(b)
        assert a.id is None
        await tx.flush()
        assert (a.id, b.id) == (1, 2)
    async with factory() as tx:  # the first transaction rolled back; its ids stay used
        c = User("telegram", "c", "c", 0)
        tx.users.add(c)
        await tx.commit()
        assert c.id == 3
