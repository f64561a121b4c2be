"""The v2 plans store (the schema examples/v3_plans_v2.sql describes)."""

revision = "0001"
down_revision = None


def upgrade():
    pass


def downgrade():
    pass
