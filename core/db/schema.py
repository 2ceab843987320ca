"""What every table module shares: the metadata (with its naming convention) and the column
types for money and times."""

from __future__ import annotations

from sqlalchemy import BigInteger, MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Money and times are BigInteger: micro-USDC easily exceeds 2**31.
Money = BigInteger
Time = BigInteger
