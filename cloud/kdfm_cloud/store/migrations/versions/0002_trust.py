"""Agent identity and trust: tenant region and data-processing agreement, one-time activation
codes, failed enrolments per source address, issued agent certificates and revocations.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Tenants made implicitly by an agent's first contact (0001) have no region: NULL.
    op.add_column("tenants", sa.Column("region", sa.String(32)))
    op.add_column("tenants", sa.Column("dpa_signed_by", sa.String(256)))
    op.add_column("tenants", sa.Column("dpa_signed_at", _TS))
    op.add_column("agents", sa.Column("hostname", sa.String(256)))
    op.add_column("agents", sa.Column("enrolled_at", _TS))
    op.add_column("agents", sa.Column("revoked_at", _TS))
    op.create_table(
        "activation_codes",
        sa.Column("code_id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        # SHA-256 (hex) of the whole code; the code itself is never stored.
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("burned_at", _TS),
        sa.Column("used_at", _TS),
        sa.Column("agent_id", sa.String(128)),
    )
    op.create_table(
        "enroll_sources",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure_at", _TS, nullable=False),
        sa.Column("last_failure_at", _TS, nullable=False),
    )
    op.create_table(
        "agent_certificates",
        sa.Column("serial", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("not_after", _TS, nullable=False),
        sa.Column("revoked_at", _TS),
    )
    op.create_index("agent_certificates_agent", "agent_certificates", ["tenant", "agent_id"])


def downgrade() -> None:
    op.drop_index("agent_certificates_agent", "agent_certificates")
    for table in ("agent_certificates", "enroll_sources", "activation_codes"):
        op.drop_table(table)
    for table, column in (("agents", "revoked_at"), ("agents", "enrolled_at"),
                          ("agents", "hostname"), ("tenants", "dpa_signed_at"),
                          ("tenants", "dpa_signed_by"), ("tenants", "region")):
        op.drop_column(table, column)
