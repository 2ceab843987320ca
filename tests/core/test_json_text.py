"""JSON columns (core/db/json_text.py): the text stored is the text the services stored before
the mapping layer did it, and a damaged row reads as the column's fallback, never raising."""

from __future__ import annotations

import pytest
from sqlalchemy import Text, select, update

from core.db import tables
from core.db.json_text import JsonText
from core.domain.model import Machine
from core.domain.signatures import PendingSignature
from core.domain.verification import Endpoint, Verification
from tests.support import add_provider, plant_damaged


def _stored(column, value):
    return column.type.process_bind_param(value, None)


def _read(column, text):
    return column.type.process_result_value(text, None)


def test_each_column_stores_the_text_its_service_wrote():
    r, m, a = tables.rentals.c, tables.machines.c, tables.agent_commands.c
    assert _stored(r.gpu_uuids_json, ["GPU-1", "GPU-0"]) == '["GPU-1", "GPU-0"]'  # json.dumps
    assert _stored(r.instance_json, {"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'  # canonical
    assert _stored(r.access_ports_json, [[8888, 41000]]) == "[[8888, 41000]]"
    assert _stored(m.inventory_json, [{"uuid": "U", "name": "N"}]) == '[{"name": "N", "uuid": "U"}]'
    assert _stored(m.metrics_json, {"at": 5, "gpus": []}) == '{"at":5,"gpus":[]}'
    assert _stored(m.offer_json, None) == ""  # no offer, as before (the column is NOT NULL)
    assert _stored(m.offer_json, {"z": "é", "a": 1}) == '{"z":"é","a":1}'  # model_dump_json's
    assert _stored(a.result_json, {"ok": True, "error": None}) == '{"ok":true,"error":null}'
    assert _stored(tables.outbox.c.payload_json, {"b": "é", "a": 1}) == '{"a":1,"b":"\\u00e9"}'
    args = tables.chain_events.c.args_json
    assert _stored(args, {"id": b"\x01", "n": 2}) == '{"id": "b\'\\\\x01\'", "n": 2}'  # default=str
    assert _stored(tables.gpu_samples.c.gpus_json, [[3, 40], [3, 40]]) == "[[3,40],[3,40]]"
    assert _stored(tables.wallet_sessions.c.pending_json, {"connect": 1}) == '{"connect": 1}'
    assert _stored(tables.pending_signatures.c.payload_json, {"b": 1, "a": 2}) == '{"b":1,"a":2}'
    assert _stored(r.instance_json, None) is None  # SQL NULL stays NULL


@pytest.mark.parametrize("text", ["{not json", "[" * 100_000, ""])
def test_a_damaged_value_reads_as_the_columns_fallback(text, caplog):
    assert _read(tables.rentals.c.gpu_uuids_json, text) == []
    assert _read(tables.machines.c.metrics_json, text) == {}
    assert _read(tables.outbox.c.payload_json, text) is None
    assert "damaged" in caplog.text


def test_what_was_stored_reads_back_and_none_text_is_none():
    offer = tables.machines.c.offer_json
    assert _read(offer, "") is None and _read(offer, '{"probes":true}') == {"probes": True}
    assert _read(tables.rentals.c.instance_json, None) is None
    assert JsonText().process_result_value("[1, 2]", None) == [1, 2]


async def test_entities_hold_values_and_rows_hold_the_old_text(app):
    """Through the mapping: an entity's JSON field is a value, the row keeps the text, and a
    damaged row of a reader that tolerates one (a signature request) reads as "nothing"."""
    _, machine_id = await add_provider(app, "box", ["rtx4090"], 400_000)
    async with app.uow() as uow:
        machine = await uow.machines.get(machine_id)
        assert isinstance(machine, Machine) and machine.inventory[0]["name"]
        assert isinstance(machine.metrics, dict)
        await plant_damaged(
            uow,
            tables.pending_signatures,
            token="t" * 32,
            user_id=1,
            kind="stop",
            payload_json="{not json",
            created_at=0,
            expires_at=100,
            status="pending",
        )
        await uow.session.execute(
            update(tables.machines)
            .where(tables.machines.c.id == machine_id)
            .values(metrics_json={})
        )
        await uow.commit()
    async with app.uow(readonly=True) as uow:
        text = (
            await uow.session.execute(
                select(tables.machines.c.metrics_json.cast(Text)).where(
                    tables.machines.c.id == machine_id
                )
            )
        ).scalar_one()
        assert text == "{}"
        pending = await uow.signatures.get_by_token("t" * 32)
        assert isinstance(pending, PendingSignature) and pending.payload is None
        assert pending.params() == {} and pending.relay_params() is None


def test_a_verification_is_stored_as_before_and_a_damaged_one_reads_as_none():
    column = tables.machines.c.verified_json
    verified = Verification(Endpoint("h", 22, "SHA256:x"), frozenset({"GPU-1", "GPU-0"}))
    text = '{"endpoint":["h",22,"SHA256:x"],"gpus":["GPU-0","GPU-1"]}'
    assert _stored(column, verified) == text and _read(column, text) == verified
    assert _stored(column, None) == "" and _read(column, "") is None
    for damaged in ("{not json", '{"gpus":[]}', '{"endpoint":[1],"gpus":[]}', "[1]"):
        assert _read(column, damaged) is None, damaged
