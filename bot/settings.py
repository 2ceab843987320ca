"""All settings, from the environment or a .env file (see .env.example). Built once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///var/rigshare.sqlite3"
    database_schema: str | None = None  # PostgreSQL search_path (tests, shared servers)
    redis_url: str | None = None
    telegram_token: SecretStr | None = None
    # Telegram: polling unless TELEGRAM_WEBHOOK (then PUBLIC_URL must be https); the secret
    # header defaults to one derived from the token; TELEGRAM_API_URL: a local Bot API server
    telegram_webhook: bool = False
    telegram_webhook_path: str = "/telegram/webhook"
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str | None = None
    telegram_polling_timeout_s: int = Field(default=30, ge=0, le=60)
    telegram_rate_per_s: float = Field(default=1.0, gt=0)  # per user, beyond the burst
    telegram_rate_burst: int = Field(default=8, ge=1)
    telegram_status_refresh_s: float = Field(default=45.0, gt=0)  # live /status edits
    telegram_concurrency: int = Field(default=16, ge=1, le=1000)  # updates handled at once
    # a /gpus page is reused for the same filters until this process changes the market, and
    # for at most this long (what another process changed shows after it); 0: never reused
    market_cache_s: float = Field(default=1.0, ge=0, le=60)
    # admission control, per process and shared by every front end: updates handled at once
    # (beyond a few the CPU is busy and more only queue for database connections) and how
    # many may wait for a slot; past that the Telegram webhook answers 503 (Telegram resends)
    updates_in_flight: int = Field(default=16, ge=1, le=1000)
    updates_waiting: int = Field(default=5000, ge=0)
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None  # sync slash commands to this server at once (testing)
    discord_rate_per_s: float = Field(default=1.0, gt=0)  # per user, beyond the burst
    discord_rate_burst: int = Field(default=8, ge=1)
    public_url: str = "http://127.0.0.1:8080"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    # "dev": an in-process development chain (py-evm) with MockUSDC and the escrow deployed at
    # start; "fake": the in-memory escrow simulation (unit tests). RPC_URL overrides both.
    chain: Literal["dev", "fake"] = "dev"
    rpc_url: str | None = None
    chain_id: int = 31337  # checked against the node behind RPC_URL
    escrow_address: str | None = None
    escrow_start_block: int = Field(default=0, ge=0)  # the watcher starts here (deploy block)
    relayer_key: SecretStr | None = None
    arbiter_key: SecretStr | None = None  # signs dispute decisions (the escrow's arbiter)
    arbiter_delay_s: int = Field(default=300, ge=0)  # evidence settles this long before a decision
    deployer_key: SecretStr | None = None  # `rigshare deploy`; defaults to the relayer key
    confirmations: int = Field(default=3, ge=0, le=256)
    watch_interval_s: float = Field(default=2.0, gt=0)
    dev_wallet_seed: str = "rigshare-dev"  # development wallets: keys derived from this
    fee_bps: int = Field(default=1200, ge=1000, le=1500)
    wc_project_id: str | None = None
    wc_relay_url: str = "wss://relay.walletconnect.org"
    wallet_key_secret: SecretStr | None = None
    # the service's SSH key for its own probes of provider hosts (an OpenSSH private key);
    # unset: a key file under DATA_DIR, created once
    probe_ssh_key: SecretStr | None = None
    # local state: the WalletConnect key file when WALLET_KEY_SECRET is unset
    data_dir: str = "var"
    simulated_providers: int = Field(default=6, ge=0, le=1000)
    keeper_interval_s: float = Field(default=5.0, gt=0)
    # a signed payment or stop whose relay a dead process never finished is relayed again
    # after this long (longer than a relay takes: mining, fee bumps, confirmations)
    relay_retry_s: int = Field(default=120, ge=5)
    log_level: str = "INFO"
    # reverse proxies whose X-Forwarded-For is believed (comma-separated addresses/networks);
    # the signing page's rate limit is per client, not per proxy (bot/web/client_address.py)
    trusted_proxies: str = "127.0.0.1/32,::1/128"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from bot.web.client_address import parse_networks

        parse_networks(value)  # raises ValueError naming the bad entry
        return value
