"""The unit of work the service unit tests run on: the in-memory fake and SQLite, each test
once with each (``tests/core/service_units.py``)."""

from __future__ import annotations

import pytest

from tests.core.service_units import BACKENDS, unit_of_work


@pytest.fixture(params=BACKENDS)
async def uow(request: pytest.FixtureRequest, tmp_path):
    async with unit_of_work(request.param, tmp_path) as factory:
        yield factory
