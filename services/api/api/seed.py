"""Demo users for a fresh stack: ``python -m api.seed`` (idempotent, run by make up).

On an empty database they get IDs 1 and 2, so the README's curl works as written.
"""

from __future__ import annotations

from sqlalchemy import select

from api.config import Settings
from api.db import User, make_sessionmaker, open_database

DEMO_USERS = (
    {"name": "Ada", "email": "ada@example.com", "phone": "+15550100001", "device_token": "demo-device-ada",
     "push_enabled": True, "email_enabled": True, "sms_enabled": True},
    {"name": "Alan", "email": "alan@example.com", "phone": "+15550100002", "device_token": "demo-device-alan",
     "push_enabled": True, "email_enabled": True, "sms_enabled": False},
)


def seed(database_url: str) -> int:
    """Add the demo users missing (matched by e-mail); return how many were added."""
    added = 0
    with make_sessionmaker(open_database(database_url)).begin() as session:
        for user in DEMO_USERS:
            if session.scalar(select(User.id).where(User.email == user["email"])) is None:
                session.add(User(**user))
                session.flush()
                added += 1
    return added


if __name__ == "__main__":
    seed(Settings.from_env().database_url)
