"""Settings of the AI agents (prefix ``CONTROLROOM_AI_``; the Anthropic SDK's own variables also work)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AISettings(BaseSettings):
    """Where the LLM is and how to call it. Explicit constructor arguments win over the environment."""

    model_config = SettingsConfigDict(env_prefix="CONTROLROOM_AI_", extra="ignore")

    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CONTROLROOM_AI_API_KEY", "ANTHROPIC_API_KEY", "api_key")
    )
    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CONTROLROOM_AI_BASE_URL", "ANTHROPIC_BASE_URL", "base_url")
    )
    model: str = "claude-sonnet-4-5"
    max_tokens: int = Field(default=2048, ge=1, le=64000)
    max_retries: int = Field(default=2, ge=0, le=10)
    timeout_s: float = Field(default=120.0, gt=0)

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())
