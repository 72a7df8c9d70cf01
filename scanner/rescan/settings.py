"""Settings for the hash log and retroactive matching (``HASHWATCH_*`` environment variables)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RescanSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHWATCH_", extra="ignore")

    # Customers whose scans go to the hash log: comma-separated ids, or "*" for all. Empty: off.
    hash_log_customers: str = ""
    # Days a logged scan is kept.
    hash_log_days: Annotated[int, Field(ge=1)] = 30
    # How often the service checks for new list entries to match the hash log against; 0: never.
    retro_match_seconds: Annotated[float, Field(ge=0)] = 60.0
