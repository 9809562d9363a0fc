"""signed meter readings: kept beside the plain one of the same instant, with their key

The sample key of ``meter_values`` gains ``format``: an Eichrecht charger sends, at the
end of a transaction, the register as a plain value and again as signed data (OCMF)
with the same timestamp, measurand and context, and the signed one was dropped as a
repeat. And ``signature`` keeps what a 2.0.1 charger sends beside signed data (signing
method, encoding, the meter's public key) for transparency software. Only an index is
replaced and a nullable column added: no table copy on SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_KEY = ["station_id", "evse_id", "timestamp", "measurand", "phase", "location", "context"]


def upgrade() -> None:
    op.add_column("meter_values", sa.Column("signature", sa.JSON(none_as_null=True)))
    op.drop_index("uq_meter_values_sample", table_name="meter_values")
    op.create_index("uq_meter_values_sample", "meter_values", [*_KEY, "format"], unique=True)


def downgrade() -> None:
    # a signed reading beside its plain twin would break the older key: keep the plain one
    op.execute(
        "DELETE FROM meter_values WHERE format <> 'Raw' AND EXISTS (SELECT 1 FROM meter_values"
        " AS m WHERE m.format = 'Raw' AND m.station_id = meter_values.station_id AND"
        " m.evse_id = meter_values.evse_id AND m.timestamp = meter_values.timestamp AND"
        " m.measurand = meter_values.measurand AND m.phase = meter_values.phase AND"
        " m.location = meter_values.location AND m.context = meter_values.context)"
    )
    op.drop_index("uq_meter_values_sample", table_name="meter_values")
    op.create_index("uq_meter_values_sample", "meter_values", _KEY, unique=True)
    with op.batch_alter_table("meter_values") as batch:
        batch.drop_column("signature")
