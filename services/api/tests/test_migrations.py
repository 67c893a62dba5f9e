"""A database made before the API had migrations is migrated in place, its rows kept working."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from api.db import MIGRATIONS, open_database
from sqlalchemy import text
from threadline.database import make_engine


def test_a_database_from_before_migrations_is_migrated_and_its_rows_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _make_old_database(url)

    engine = open_database(url)

    with engine.connect() as connection:
        message = connection.execute(text("SELECT key, addresses, sweeps FROM messages")).one()
        files = dict(connection.execute(text("SELECT status, published_at IS NOT NULL FROM files")).all())
        version = connection.execute(text("SELECT version_num FROM alembic_version_api")).scalar_one()
    assert message.key == "message-1"
    assert '"email": "ada@example.com"' in message.addresses and '"sms": null' in message.addresses
    assert message.sweeps == 0
    assert files == {"pending": False, "succeeded": True}  # the relay publishes the pending one
    assert version == "0002"
    with engine.begin() as connection:  # new rows get their creation time from the database
        connection.execute(text("INSERT INTO files (request_id, name, path, status, rows_done, percent, updated_at)"
                                " VALUES ('r', 'n', 'p', 'pending', 0, 0, '2026-01-01')"))
        assert connection.execute(text("SELECT count(*) FROM files WHERE created_at IS NULL")).scalar() == 0


def _make_old_database(url: str) -> None:
    """The tables as the API created them before it had migrations, with a few rows."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes.update(connection=connection, version_table="alembic_version_api")
        command.upgrade(config, "0001")
        connection.execute(text("DROP TABLE alembic_version_api"))
        connection.execute(text(
            "INSERT INTO users (id, name, email, phone, device_token, push_enabled, email_enabled, sms_enabled,"
            " created_at) VALUES (1, 'Ada', 'ada@example.com', '+15550100001', 'dev', 1, 1, 0, '2026-01-01')"))
        connection.execute(text("INSERT INTO messages (request_id, sender, recipient, body, created_at)"
                                " VALUES ('r1', 1, 1, 'hi', '2026-01-01')"))
        for status in ("pending", "succeeded"):
            connection.execute(text(
                "INSERT INTO files (request_id, name, path, status, rows_done, percent, created_at, updated_at)"
                f" VALUES ('r', 'n', 'p', '{status}', 0, 0, '2026-01-01', '2026-01-01')"))
    engine.dispose()
