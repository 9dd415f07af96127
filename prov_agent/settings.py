"""Settings of the provenance library, read from ``CONTROLROOM_PROV_*`` environment variables.

Only this module reads the environment; everything else takes explicit arguments, and a
caller's explicit argument always wins over a setting.

>>> ProvSettings(flush_interval_s=0.5).flush_interval_s
0.5
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProvSettings(BaseSettings):
    """``CONTROLROOM_PROV_FLUSH_INTERVAL_S``, ``..._MAX_VALUE_BYTES``, ``..._TABLE_PREFIX``."""

    model_config = SettingsConfigDict(env_prefix="CONTROLROOM_PROV_", extra="ignore")

    flush_interval_s: float = Field(
        0.2, gt=0, le=60, description="seconds between writer flushes (at most this much is lost on SIGKILL)"
    )
    max_value_bytes: int = Field(
        4096, ge=64, le=1_048_576, description="cap on a recorded string or argument value, UTF-8 bytes"
    )
    table_prefix: str = Field(
        "prov_", pattern=r"^prov_[a-z0-9_]{0,40}$", description="prefix of the provenance tables"
    )
