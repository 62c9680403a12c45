"""``python -m trainer.ask``: ask a published model from the command line, the text streamed to stdout.

    python -m trainer.ask --mirror <address> "prompt"             # the mirror's latest model (DATABASE_URL)
    python -m trainer.ask --cid <cid> --sha256 <hex> "prompt"     # one artifact, named directly

The same path as the API's ``ask`` (``trainer.serving``): fetched from the content store
(``IPFS_API_URL`` or the embedded store in ``MIRROR_DATA_DIR``), opened with ``--key`` when sealed
(a Solana keypair file: the inference service's, the default, or the owner's), checked against its
sha256, then generated on one worker thread. It checks no grant: it reads what its key can open.
A refusal prints ``error: <code>: <message>`` on stderr and exits 1; bad arguments (a key file that
is missing or not a Solana keypair) print ``error: <message>`` and exit 2, like argparse's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg
import structlog

from mirror_common.config import Settings
from mirror_common.pg import init_connection
from trainer.serving import ModelRef, ModelServer, Sampling, ServeError, check_request, inference_device, inference_key, latest_model

MAX_PROMPT_BYTES = 1 << 20
MAX_TOKENS = 65_536  # trainer.infer.MAX_TOKENS, without importing torch before the arguments are read


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer.ask", description="Ask a published model; the text is streamed to stdout.")
    p.add_argument("prompt", help="the prompt (UTF-8)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--mirror", help="a mirror's address: its latest model version, from the read models (DATABASE_URL)")
    which.add_argument("--cid", help="a model artifact's CID (with --sha256)")
    p.add_argument("--sha256", help="the artifact's sha256 (hex) as the chain records it: of the plaintext")
    p.add_argument("--key", type=Path, help="Solana keypair file opening sealed artifacts (default: MIRROR_INFERENCE_KEYPAIR)")
    p.add_argument("--max-tokens", type=int, default=256, help="bytes to generate (default 256)")
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=40, help="0: no top-k (default 40)")
    p.add_argument("--seed", type=int, help="makes the sampling repeatable")
    args = p.parse_args(argv)
    if args.cid is not None and args.sha256 is None:
        p.error("--cid needs --sha256")
    if args.mirror is not None and args.sha256 is not None:
        p.error("--sha256 goes with --cid; --mirror reads it from the read models")
    return args


async def ask(args: argparse.Namespace, settings: Settings, key: bytes | None, device: str = "cpu") -> int:
    sampling = Sampling(args.max_tokens, args.temperature, args.top_k or None, args.seed)
    check_request(args.prompt, sampling, max_tokens=MAX_TOKENS, max_prompt_bytes=MAX_PROMPT_BYTES)
    if args.mirror is not None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await init_connection(conn)
            ref = await latest_model(conn, args.mirror)
        finally:
            await conn.close()
    else:
        ref = ModelRef(cid=args.cid, sha256=args.sha256)
    server = ModelServer(settings, key=key, max_models=1, device=device)
    try:
        model = await server.load(ref)
        version = f"version {ref.version} " if ref.version else ""
        print(f"model {version}{ref.cid} (sha256 {model.sha256[:16]}…)", file=sys.stderr, flush=True)
        out = sys.stdout.buffer  # UTF-8 whatever the locale says
        async for piece in server.stream(model, args.prompt, sampling):
            out.write(piece.encode())
            out.flush()
        out.write(b"\n")
        out.flush()
    finally:
        await server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout is the answer's alone
    if args.key is not None and not args.key.is_file():
        print(f"error: no keypair file {args.key}", file=sys.stderr)
        return 2
    settings = Settings()
    try:
        key = inference_key(args.key or settings.mirror_inference_keypair)
        device = inference_device(settings.inference_device)
    except (ValueError, OSError) as e:  # not a keypair file; a directory, unreadable; a device this machine lacks
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(ask(args, settings, key, device))
    except ServeError as e:
        print(f"error: {e.code}: {e}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
