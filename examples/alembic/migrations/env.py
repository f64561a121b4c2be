"""Alembic's environment: a plain SQLite engine on the file PLANS_DB names."""
import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine("sqlite:///" + os.environ["PLANS_DB"])
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
