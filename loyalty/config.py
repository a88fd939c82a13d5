"""One settings object, read from ``LOYALTY_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Defaults that run on a laptop: a SQLite file in the working directory."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///loyalty.db"
    max_body_bytes: int = 8 * 1024 * 1024
    api_key_cache_seconds: float = 5.0
    db_pool_size: int = 10
    echo_sql: bool = False
    # Console and member page: mark cookies Secure (set true behind HTTPS).
    cookie_secure: bool = False
    # SMS for the member page's sign-in codes: "log" writes them to the server log (demo),
    # "http" posts them to ``sms_url`` (a gateway speaking JSON).
    sms_provider: str = "log"
    sms_url: str = ""
    sms_token: str = ""


@lru_cache
def get_settings() -> Settings:
    return Settings()
