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
    ipfs_timeout: float = 30.0  # seconds Kubo may search for a block (then NotFound); a node silent past it: Unavailable
    mirror_data_dir: Path = REPO_ROOT / ".data"
    mirror_admin_keypair: Path = REPO_ROOT / "keys" / "dev" / "localnet-admin-keypair.json"
    mirror_trainer_keypair: Path = REPO_ROOT / "keys" / "dev" / "localnet-trainer-keypair.json"
    mirror_localnet_bin: Path | None = None
    # indexer
    indexer_metrics_port: int = 59101  # Prometheus /metrics; 0 turns it off
    indexer_backfill_batch: int = 100  # getTransaction calls per JSON-RPC batch
    indexer_log_json: bool = False  # structlog: JSON lines instead of the console renderer
    # trainer
    trainer_metrics_port: int = 59103  # Prometheus /metrics of the daemon; 0 turns it off
    trainer_model_size: str = "small"  # trainer.model sizes; a mirror's first model (later ones keep theirs)
    trainer_max_dataset: int = 8 * 1024 * 1024  # bytes of plaintext a job may bring
    trainer_checkpoint_s: float = 30.0  # seconds between checkpoints while training
    trainer_poll_s: float = 5.0  # seconds between reads of the job table when Redis is quiet
    trainer_log_json: bool = False
    trainer_threads: int = 0  # torch intra-op threads; 0: torch's default (one per core)
    trainer_device: str = "cpu"  # where jobs train: cpu, or cuda[:N] (bf16 autocast, fused AdamW, larger micro-batches)
    inference_device: str = "cpu"  # where ask generates (API and trainer.ask): cpu (one thread), or cuda[:N] (bf16 autocast)
    mirror_inference_keypair: Path = (
        REPO_ROOT / "keys" / "dev" / "localnet-inference-keypair.json"
    )  # the API and ask open private models with it
    # The inference service's public key (base58), to which the trainer seals private artifacts; empty: the public half
    # of MIRROR_INFERENCE_KEYPAIR (dev). A trainer in production gets this and never the inference service's secret key.
    mirror_inference_pubkey: str = ""
    # graphql_api
    api_host: str = "127.0.0.1"
    api_port: int = 59102
    api_workers: int = 1  # uvicorn worker processes; each has its own pool, event hub and models (bench/api/README.md)
    api_dev: bool = False  # GraphiQL and introspection; never in production
    api_jwt_secret: str = ""  # empty: a random secret kept in MIRROR_DATA_DIR/api-jwt-secret (dev only)
    api_jwt_ttl: int = 3600  # seconds
    api_domain: str = "localhost:59102"  # the SIWS domain a message must name
    api_uri: str = "http://localhost:59102"  # the SIWS URI a message must name
    api_chain_id: str = "solana:localnet"
    api_nonce_ttl: int = 300  # seconds a sign-in nonce lives
    api_cors_origins: str = ""  # comma-separated; empty: no cross-origin access
    api_ip_allow: str = ""  # comma-separated CIDRs; empty: everyone not denied
    api_ip_deny: str = ""  # comma-separated CIDRs
    api_forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For names the client (comma-separated, "*": any); empty: none
    api_rate_ip: int = 300  # requests per minute and IP
    api_rate_wallet: int = 600  # requests per minute and signed-in wallet
    api_max_body: int = 100_000  # bytes
    api_max_depth: int = 10
    api_max_aliases: int = 30
    api_max_tokens: int = 2_000
    api_max_cost: int = 50_000  # estimated rows: page sizes multiplied through the nesting
    api_tls_cert: Path | None = None
    api_tls_key: Path | None = None
    api_log_json: bool = False
    api_ask_max_tokens: int = 256  # bytes (the model's tokens) one ask may generate
    api_ask_max_prompt: int = 4_096  # bytes of UTF-8 a prompt may have
    api_ask_rate: int = 20  # asks per minute per wallet (per IP when anonymous); 0 turns it off
    api_ask_queue: int = 16  # asks generating or waiting at once per process; past it: busy
    api_model_cache: int = 4  # models the API keeps loaded (least recently used evicted)

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
