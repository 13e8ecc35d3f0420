"""What several commands share: the store as config.toml describes it."""

from __future__ import annotations

from monitor.config import Config
from monitor.store import Store


def open_store(config: Config, *, migrate: bool = True) -> Store:
    return config.storage.open_store(migrate=migrate)
