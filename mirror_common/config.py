"""Configuration from the environment (and `.env`), with every default in one place."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
MIRROR_PROGRAM_ID = "8G4Dnm2zbqX88bgEQkFpcuMPBnqUvJ5NM3Cw6yvWZVAY"


def default_cargo_target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "mirror-reality" / "target"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mirror_rpc_url: str = "http://127.0.0.1:8899"
    mirror_ws_url: str = ""  # derived from the RPC URL (port + 1) when empty
    mirror_program_id: str = MIRROR_PROGRAM_ID
    database_url: str = "postgresql://mirror@127.0.0.1:55432/mirror"
    redis_url: str = "redis://127.0.0.1:56379/0"
    ipfs_api_url: str = ""  # empty: the embedded content-addressed store
    mirror_data_dir: Path = REPO_ROOT / ".data"
    mirror_admin_keypair: Path = REPO_ROOT / "keys" / "dev" / "localnet-admin-keypair.json"
    mirror_trainer_keypair: Path = REPO_ROOT / "keys" / "dev" / "localnet-trainer-keypair.json"
    mirror_localnet_bin: Path | None = None
    # indexer
    indexer_metrics_port: int = 59101  # Prometheus /metrics; 0 turns it off
    indexer_backfill_batch: int = 100  # getTransaction calls per JSON-RPC batch
    indexer_log_json: bool = False  # structlog: JSON lines instead of the console renderer

    @property
    def ws_url(self) -> str:
        return self.mirror_ws_url or ws_url_for(self.mirror_rpc_url)

    @property
    def localnet_bin(self) -> Path:
        return self.mirror_localnet_bin or default_cargo_target_dir() / "debug" / "mirror-localnet"


def ws_url_for(rpc_url: str) -> str:
    """PubSub listens on the RPC port + 1, as solana-test-validator does."""
    scheme, rest = rpc_url.split("://", 1)
    host, _, port = rest.partition(":")
    port = port.split("/", 1)[0]
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{host}:{int(port or 8899) + 1}"


@lru_cache
def settings() -> Settings:
    return Settings()
