"""Read-model rows written straight into PostgreSQL, as the indexer would write them: the
data of the API benchmark, and of the API tests that need many rows (``tests/api_support``
imports it from here, so there is one copy)."""

from __future__ import annotations

from typing import Any

from solders.keypair import Keypair


def address() -> str:
    return str(Keypair().pubkey())


async def seed(
    conn: Any, *, mirrors: int, owner: str, grantee: str | None = None, private_every: int = 0, jobs: int = 1, t0: int = 1_700_000_000
) -> list[str]:
    """``mirrors`` mirrors of ``owner``, each with ``jobs`` completed jobs and their model
    versions, a VIEW grant to ``grantee`` and one event. Returns the mirror addresses, newest first."""
    out = []
    for i in range(mirrors):
        m = address()
        visibility = "Private" if private_every and i % private_every == 0 else "Public"
        await conn.execute(
            """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version, job_count,
                                    created_at, updated_at, created_slot, created_signature, last_slot, created_at_unix, updated_at_unix)
               VALUES ($1, $2, $2, $3, $4, $5, $6, 'Active', $7::bigint, $7::bigint::numeric, to_timestamp($8), to_timestamp($8),
                       10, 'sig', 10, $8, $8)""",
            m,
            owner,
            i,
            f"mirror {i}",
            f"ipfs://m{i}",
            visibility,
            jobs,
            t0 + i,
        )
        for j in range(jobs):
            job, model = address(), address()
            await conn.execute(
                """INSERT INTO training_jobs (address, mirror, job_id, requester, dataset_cid, epochs, seq_len, batch_size,
                       learning_rate_micros, start_fresh, status, requested_at, last_slot, requested_at_unix, model_cid,
                       weights_sha256, final_loss_micros, tokens_trained)
                   VALUES ($1, $2, $3, $4, 'bafy', 1, 64, 8, 3000, false, 'Completed', to_timestamp($5), 11, $5, 'bafymodel',
                           'ab', 1500000, 4096)""",
                job,
                m,
                j,
                owner,
                t0 + i,
            )
            await conn.execute(
                """INSERT INTO model_versions (address, mirror, version, job, model_cid, weights_sha256, final_loss_micros, tokens_trained,
                       created_at, last_slot, created_at_unix)
                   VALUES ($1, $2, $3, $4, 'bafymodel', 'ab', 1500000, 4096, to_timestamp($5), 12, $5)""",
                model,
                m,
                j + 1,
                job,
                t0 + i,
            )
        if grantee:
            await conn.execute(
                """INSERT INTO access_grants (address, mirror, grantee, permissions, granted_by, granted_at, updated_at, last_slot,
                       expires_at_unix, granted_at_unix, updated_at_unix)
                   VALUES ($1, $2, $3, 1, $4, to_timestamp($5), to_timestamp($5), 13, 0, $5, $5)""",
                address(),
                m,
                grantee,
                owner,
                t0 + i,
            )
        await conn.execute(
            """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload, block_time_unix)
               VALUES ($1, 0, 10, 'p', 'MirrorCreated', $2, $3)""",
            f"sig-{m}",
            {"mirror": m, "owner": owner},
            t0 + i,
        )
        out.append(m)
    return out[::-1]
