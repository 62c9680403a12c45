"""The PyTorch side of the trainer: model, training, artifact, inference (tiny configs, CPU only).

What each group shows:
- model: the config's arithmetic matches the module; a KV cache gives the logits of a full pass.
- dataset: every reason a dataset is refused, and nothing else ever escapes the validator.
- training: the chain's maxima give a bounded plan; same arguments, same bits; a process killed
  with SIGKILL after a checkpoint resumes to the bits of an uninterrupted run; ``should_stop``
  ends it; fine-tuning starts from the given weights and refuses another config's.
- artifact: round trip, deterministic bytes, a standard safetensors file, the sha256 is checked
  first, and truncated or bit-flipped blobs give ``ArtifactError`` and nothing else.
- inference: with and without the KV cache, greedy decoding gives the same tokens (across window
  restarts); top-k 1 is greedy; seeds reproduce; output is whole UTF-8 for every temperature and
  top-k the API accepts (subnormal temperatures included: greedy, never NaN); a model with finite
  weights but non-finite logits is refused (``NonFiniteLogits``, served as ``model_corrupt`` and
  remembered); the model cache is bounded, keyed by CID and sha256 (a ref copying a loaded model's
  sha256 beside another CID is not served it), and loads a model once for concurrent callers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors import deserialize

from mirror_common.config import Settings
from mirror_common.ipfs import KuboStore, open_store
from mirror_common.services import Kubo
from tests.indexer_support import TcpProxy
from trainer import artifact as artifacts
from trainer import dataset, infer, train
from trainer.model import GPT, VOCAB_SIZE, ModelConfig, build_model, estimate_flops_per_token, expected_shapes, tensor_bytes
from trainer.serving import MAX_TEMPERATURE, TOP_K_MAX, ModelRef, ModelServer, Sampling, ServeError

torch.set_num_threads(1)  # tiny tensors: threads only add contention on shared cores (the SIGKILL child imports this too)
TINY = ModelConfig.named("tiny")
PARAMS = train.TrainingParams(epochs=1, seq_len=32, batch_size=8, learning_rate_micros=3_000)
LIMITS = train.TrainingLimits(max_steps=40)
REPO = Path(__file__).resolve().parent.parent


def corpus(size: int = 6_000) -> bytes:
    """Deterministic text with multi-byte characters."""
    words = ["mirror", "reality", "café", "naïve", "日本語", "😀", "the", "of", "model", "byte", "Ünïcödé", "\n"]
    g = torch.Generator().manual_seed(1)
    out: list[str] = []
    while sum(len(w.encode()) + 1 for w in out) < size:
        out.append(words[int(torch.randint(len(words), (1,), generator=g))])
    return " ".join(out).encode()[:size].decode(errors="ignore").encode()


DATA = corpus()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained() -> train.TrainResult:
    return train.train(DATA, PARAMS, TINY, seed=11, limits=LIMITS)


@pytest.fixture(scope="module")
def artifact_blob(trained: train.TrainResult) -> tuple[bytes, str]:
    return artifacts.build_artifact(trained, TINY, job="Job111", lineage={"parent_sha256": None})


# --- model --------------------------------------------------------------------------


def test_config_arithmetic_matches_the_module() -> None:
    for name in ("tiny", "small"):
        config = ModelConfig.named(name)
        model = build_model(config, seed=0)
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(config)
        assert sum(p.numel() for p in model.parameters()) == config.num_parameters()
    base = ModelConfig.named("base")
    assert 80e6 < base.num_parameters() < 90e6  # GPT-2-small class
    # nanoGPT's estimate: 6N (N without position embeddings) + 12·L·H·Q·T
    n = TINY.num_parameters() - TINY.block_size * TINY.n_embd
    assert estimate_flops_per_token(TINY) == 6 * n + 12 * 2 * 2 * 16 * 64


@pytest.mark.parametrize(
    "fields",
    [
        {"n_layer": 0, "n_head": 1, "n_embd": 8, "block_size": 8},
        {"n_layer": 1, "n_head": 3, "n_embd": 8, "block_size": 8},
        {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 8193},
        {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 8, "dropout": 1.0},
        {"n_layer": True, "n_head": 1, "n_embd": 8, "block_size": 8},
        {"n_layer": 1000, "n_head": 16, "n_embd": 4096, "block_size": 8},  # too many parameters
    ],
)
def test_config_refuses_bad_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ModelConfig(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ModelConfig.named("huge")


def test_kv_cache_gives_the_logits_of_a_full_pass() -> None:
    model = build_model(TINY, seed=3).eval()
    idx = torch.randint(0, VOCAB_SIZE, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, _ = model(idx)
        cache = model.new_cache(2)
        parts = [model(idx[:, :20], cache=cache)[0], model(idx[:, 20:33], cache=cache)[0]]  # a prefill, then a chunk
        parts += [model(idx[:, i : i + 1], cache=cache)[0] for i in range(33, 50)]  # then one token at a time
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        model(torch.zeros(1, TINY.block_size + 1, dtype=torch.long))


# --- dataset ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"x" * 101, "too_large"),
        (b"x", "too_short"),
        (b"ok \xff\xfe", "not_utf8"),
        (b"\xe6\x97", "not_utf8"),  # a cut character
        (b"text\x00more", "not_text"),
        (b"\x01\x02\x03" + b"a" * 90, "not_text"),
    ],
)
def test_validate_dataset_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(dataset.DatasetError) as refused:
        dataset.validate_dataset(data, max_size=100)
    assert refused.value.reason == reason


def test_validate_dataset_accepts_text() -> None:
    assert dataset.validate_dataset(DATA, max_size=len(DATA)) == DATA.decode()
    assert dataset.validate_dataset(b"a\tb\r\nc\f", max_size=100) == "a\tb\r\nc\f"


@given(st.binary(max_size=300))
def test_validate_dataset_never_raises_anything_else(data: bytes) -> None:
    try:
        text = dataset.validate_dataset(data, max_size=200)
    except dataset.DatasetError as e:
        assert e.reason in {"empty", "too_large", "too_short", "not_utf8", "not_text"}
    else:
        assert text.encode() == data


# --- training -----------------------------------------------------------------------


def test_chain_maxima_give_a_bounded_plan() -> None:
    """epochs, seq_len and batch_size at the chain's maxima on a 1 MiB dataset: the default limits bound the work."""
    maxima = train.TrainingParams(train.MAX_EPOCHS, train.MAX_SEQ_LEN, train.MAX_BATCH_SIZE, train.MAX_LEARNING_RATE_MICROS)
    limits = train.DEFAULT_LIMITS
    for name in ModelConfig.SIZES:
        config = ModelConfig.named(name)
        p = train.plan(1 << 20, maxima, config)
        assert p.seq_len == config.block_size
        assert p.tokens_per_step <= limits.max_step_tokens
        assert p.micro_batch * p.seq_len <= max(limits.micro_batch_tokens, p.seq_len)
        assert p.steps * p.tokens_per_step <= limits.max_tokens + p.tokens_per_step
        assert p.steps <= limits.max_steps
    short = train.plan(5, maxima, TINY)
    assert (short.seq_len, short.steps) == (4, 1)  # a window cut to the data, one step
    with pytest.raises(ValueError):
        train.TrainingParams(0, 1, 1, 1)
    with pytest.raises(ValueError):
        train.TrainingParams(1, train.MAX_SEQ_LEN + 1, 1, 1)


def test_chain_maxima_train_to_the_end() -> None:
    """The maxima really run (within smaller limits, to keep the test short) on a 1 MiB dataset."""
    data = (DATA * (1 + (1 << 20) // len(DATA)))[: 1 << 20]
    maxima = train.TrainingParams(train.MAX_EPOCHS, train.MAX_SEQ_LEN, train.MAX_BATCH_SIZE, 1_000)
    limits = train.TrainingLimits(max_tokens=4_096, max_step_tokens=2_048, micro_batch_tokens=512, eval_tokens=512)
    result = train.train(data, maxima, TINY, seed=1, limits=limits)
    assert (result.steps, result.seq_len, result.batch_size, result.tokens_trained) == (2, 64, 32, 4_096)
    assert 0 < result.final_loss_micros < 10_000_000


def test_the_largest_learning_rate_is_refused_as_diverged() -> None:
    """The chain accepts any positive u32 rate; 4294.967 makes the loss NaN within a few steps: a clear error, not NaN weights."""
    params = train.TrainingParams(1, 32, 8, train.MAX_LEARNING_RATE_MICROS)
    with pytest.raises(train.TrainingDiverged, match="loss nan"):
        train.train(DATA, params, TINY, seed=1, limits=train.TrainingLimits(max_steps=20, eval_tokens=512))


def test_training_is_deterministic(trained: train.TrainResult) -> None:
    again = train.train(DATA, PARAMS, TINY, seed=11, limits=LIMITS)
    assert same_weights(trained.weights, again.weights)
    assert again.final_loss_micros == trained.final_loss_micros
    other = train.train(DATA, PARAMS, TINY, seed=12, limits=LIMITS)
    assert not same_weights(trained.weights, other.weights)
    steps = -(-(len(DATA) - 1) // (8 * 32))  # one epoch: every byte but the first is a target once
    assert (trained.steps, trained.tokens_trained) == (steps, steps * 8 * 32)
    assert trained.final_loss_micros < 5_545_177  # below ln(256): it learned something


CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_trainer_model import DATA, PARAMS, TINY, LIMITS
from trainer import train

def progress(step, total, loss, tokens):
    if step == 6:  # after the checkpoint of step 4: say so, then hang until killed
        Path(sys.argv[3]).write_text("ready")
        time.sleep(600)

train.train(DATA, PARAMS, TINY, seed=11, limits=LIMITS, checkpoint_dir=Path(sys.argv[2]), checkpoint_every_steps=4, progress=progress)
"""


def test_sigkill_then_resume_gives_the_uninterrupted_weights(trained: train.TrainResult, tmp_path: Path) -> None:
    checkpoints, ready = tmp_path / "checkpoints", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(checkpoints), str(ready)])
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the child never reached step 6 (exit {child.poll()})"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    steps: list[int] = []
    resumed = train.train(
        DATA,
        PARAMS,
        TINY,
        seed=11,
        limits=LIMITS,
        checkpoint_dir=checkpoints,
        checkpoint_every_steps=4,
        progress=lambda step, total, loss, tokens: steps.append(step),
    )
    assert resumed.resumed_from_step == 4 and steps[0] == 5
    assert same_weights(resumed.weights, trained.weights)
    assert resumed.final_loss_micros == trained.final_loss_micros
    # the final checkpoint makes a second call (a crash before publishing) instant and identical
    later: list[int] = []
    again = train.train(DATA, PARAMS, TINY, seed=11, limits=LIMITS, checkpoint_dir=checkpoints, progress=lambda *a: later.append(a[0]))
    assert again.resumed_from_step == trained.steps and later == []
    assert same_weights(again.weights, trained.weights)


def test_a_checkpoint_of_other_arguments_or_unreadable_is_ignored(tmp_path: Path) -> None:
    train.train(DATA, PARAMS, TINY, seed=1, limits=LIMITS, checkpoint_dir=tmp_path)
    other = train.train(DATA, PARAMS, TINY, seed=2, limits=LIMITS, checkpoint_dir=tmp_path)
    assert other.resumed_from_step is None
    (tmp_path / train.CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    fresh = train.train(DATA, PARAMS, TINY, seed=2, limits=LIMITS, checkpoint_dir=tmp_path)
    assert fresh.resumed_from_step is None and same_weights(fresh.weights, other.weights)


def test_should_stop_ends_training() -> None:
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    with pytest.raises(train.Stopped):
        train.train(DATA, PARAMS, TINY, seed=1, limits=LIMITS, should_stop=stop)
    assert len(polls) == 4  # polled before each micro-batch, and nothing ran after it said stop


def test_a_tiny_dataset_is_evaluated_once_per_window_in_batches_of_its_own() -> None:
    """b"ab" with epochs = seq_len = batch = 1 has one window: one forward to evaluate it, not
    eval_tokens // 1 = 16,384 forwards of the training batch (43 s on tiny before)."""
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return False

    ones = train.TrainingParams(epochs=1, seq_len=1, batch_size=1, learning_rate_micros=1_000)
    p = train.plan(2, ones, TINY)
    assert (p.steps, p.micro_batch, p.eval_windows, p.eval_batch) == (1, 1, 1, 1)
    result = train.train(b"ab", ones, TINY, seed=1, should_stop=stop)
    assert len(polls) == 2  # one training micro-batch, one evaluation batch
    assert 0 < result.final_loss_micros < 10_000_000
    # A short dataset: every one of its windows once; batches sized by the limits, not the job's batch.
    p = train.plan(1_000, ones, TINY)
    assert (p.eval_windows, p.eval_batch) == (999, 999)
    p = train.plan(1 << 20, train.TrainingParams(1, 32, 1, 1_000), TINY)
    limits = train.DEFAULT_LIMITS
    assert (p.eval_windows, p.eval_batch) == (limits.eval_tokens // 32, limits.micro_batch_tokens // 32)


def test_the_final_loss_is_the_mean_next_byte_loss_over_every_window_of_a_short_dataset() -> None:
    """The published loss keeps its meaning: the mean cross-entropy of each window's next bytes."""
    data = DATA[:200]
    params = train.TrainingParams(epochs=1, seq_len=16, batch_size=4, learning_rate_micros=3_000)
    result = train.train(data, params, TINY, seed=3, limits=LIMITS)
    model = build_model(TINY)
    model.load_state_dict(result.weights)
    model.eval()
    corpus = torch.tensor(list(data))
    losses = []
    with torch.no_grad():
        for start in range(len(data) - 16):  # every window: 184 starts
            window = corpus[start : start + 17][None]
            _, loss = model(window[:, :-1], window[:, 1:])
            assert loss is not None
            losses.append(float(loss))
    assert abs(result.final_loss_micros - sum(losses) / len(losses) * 1e6) < 5  # float sums in another order


def test_fine_tuning_starts_from_the_given_weights(trained: train.TrainResult) -> None:
    one_step = train.TrainingLimits(max_steps=1, eval_tokens=512)
    tuned = train.train(DATA, PARAMS, TINY, seed=5, init_weights=trained.weights, limits=one_step)
    fresh = train.train(DATA, PARAMS, TINY, seed=5, limits=one_step)
    assert tuned.fine_tuned and not fresh.fine_tuned
    drift = max(float((tuned.weights[k] - trained.weights[k]).abs().max()) for k in trained.weights)
    assert 0 < drift < 0.01  # one small step away from the parent, not from a fresh init
    assert tuned.final_loss_micros < fresh.final_loss_micros
    other = ModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)
    with pytest.raises(train.ConfigMismatch, match=r"unexpected \['blocks\.1"):
        train.train(DATA, PARAMS, other, seed=5, init_weights=trained.weights, limits=one_step)


# --- artifact -----------------------------------------------------------------------


def test_artifact_round_trip(trained: train.TrainResult, artifact_blob: tuple[bytes, str]) -> None:
    blob, sha = artifact_blob
    assert sha == hashlib.sha256(blob).hexdigest()  # the sha256 of the whole file
    assert artifacts.build_artifact(trained, TINY, job="Job111", lineage={"parent_sha256": None}) == (blob, sha)
    loaded = artifacts.load_artifact(blob, sha)
    assert loaded.config == TINY and loaded.sha256 == sha and loaded.job == "Job111"
    assert same_weights(loaded.weights, trained.weights)
    assert loaded.metrics == trained.metrics()
    assert loaded.lineage == {"parent_sha256": None, "job": "Job111", "fine_tuned": False}
    # a standard safetensors file: its library reads the same tensors and our metadata
    header = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])
    assert json.loads(header["__metadata__"]["mirror"])["format"] == artifacts.FORMAT
    read = dict(deserialize(blob))
    assert read.keys() == trained.weights.keys()
    assert read["ln_f.weight"]["data"] == bytes(tensor_bytes(trained.weights["ln_f.weight"]))


def test_artifact_sha256_is_checked_first(artifact_blob: tuple[bytes, str]) -> None:
    blob, sha = artifact_blob
    for bad, expected, reason in [
        (blob, "0" * 64, "sha256_mismatch"),
        (blob[:-1], sha, "sha256_mismatch"),
        (blob, "xyz", "bad_expected_sha256"),
        (b"", hashlib.sha256(b"").hexdigest(), "malformed"),
    ]:
        with pytest.raises(artifacts.ArtifactError) as refused:
            artifacts.load_artifact(bad, expected)
        assert refused.value.reason == reason
    nan = {k: v.clone() for k, v in artifacts.load_artifact(blob, sha).weights.items()}
    nan["ln_f.weight"][0] = float("nan")
    with pytest.raises(artifacts.ArtifactError, match="non_finite"):
        artifacts.encode_artifact(nan, TINY, {}, {})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_artifacts_give_artifact_error_only(artifact_blob: tuple[bytes, str], data: st.DataObject) -> None:
    """Truncated or bit-flipped blobs, hashed as they are (so the parser, not the hash, must catch them)."""
    blob, _ = artifact_blob
    header_end = 8 + int.from_bytes(blob[:8], "little")
    damaged = bytearray(blob)
    if data.draw(st.booleans(), "truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(blob) - 1), "length")]
    flips = data.draw(st.lists(st.integers(0, max(0, min(len(damaged), header_end + 64) * 8 - 1)), max_size=4), "bits")
    for bit in flips:
        if bit // 8 < len(damaged):
            damaged[bit // 8] ^= 1 << (bit % 8)
    try:
        loaded = artifacts.load_artifact(bytes(damaged), hashlib.sha256(damaged).hexdigest())
    except artifacts.ArtifactError:
        return
    assert {k: tuple(v.shape) for k, v in loaded.weights.items()} == expected_shapes(loaded.config)


@settings(max_examples=40, deadline=None)
@given(
    header=st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(max_size=8), kids),
        max_leaves=12,
    )
)
def test_artifact_headers_of_any_json_give_artifact_error(header: object) -> None:
    raw = json.dumps(header).encode()
    blob = len(raw).to_bytes(8, "little") + raw + b"\0" * 16
    with pytest.raises(artifacts.ArtifactError):
        artifacts.load_artifact(blob, hashlib.sha256(blob).hexdigest())


# --- inference ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(artifact_blob: tuple[bytes, str]) -> GPT:
    blob, sha = artifact_blob
    return infer.load_model(artifacts.load_artifact(blob, sha))


def test_greedy_is_the_same_with_and_without_the_kv_cache(model: GPT) -> None:
    n = 3 * TINY.block_size  # past the window: the cache is refilled twice
    for prompt in ["", "the mirror", "é" * 40]:  # 80 bytes: a prompt longer than the window
        cached = list(infer.generate_bytes(model, prompt, max_tokens=n, temperature=0))
        plain = list(infer.generate_bytes(model, prompt, max_tokens=n, temperature=0, use_cache=False))
        assert cached == plain and len(cached) == n
    assert list(infer.generate_bytes(model, "the", max_tokens=50, temperature=1.0, top_k=1)) == list(
        infer.generate_bytes(model, "the", max_tokens=50, temperature=0)
    )


@pytest.fixture(scope="module")
def wild() -> GPT:
    """Untrained: close to uniform over bytes, so sampling reaches every UTF-8 state."""
    return infer.load_model(artifacts.load_artifact(*_random_artifact(seed=4)))


def test_sampling_is_reproducible_and_whole_utf8(wild: GPT) -> None:
    options = {"max_tokens": 200, "temperature": 3.0, "top_k": 200, "seed": 9}
    tokens = list(infer.generate_bytes(wild, "x", **options))
    assert tokens == list(infer.generate_bytes(wild, "x", **options))
    assert tokens != list(infer.generate_bytes(wild, "x", **{**options, "seed": 10}))
    assert any(t >= 0x80 for t in tokens)
    text = infer.complete(wild, "x", **options)
    raw = bytes(tokens)
    assert raw.startswith(text.encode()) and len(raw) - len(text.encode()) <= 3  # only a cut last character is left out
    raw[: len(text.encode())].decode("utf-8")  # strict: no replacement, no surrogate
    assert "\ufffd" not in text


FLOAT32_TINIEST = 1e-45  # the smallest positive float32 (a subnormal)


@settings(max_examples=150, deadline=None)
@given(
    temperature=st.floats(0, MAX_TEMPERATURE) | st.floats(0, 1e-30),
    top_k=st.none() | st.integers(1, TOP_K_MAX),
    seed=st.integers(0, 2**32),
)
@example(temperature=5e-324, top_k=None, seed=0)  # the smallest double: was 0 in float32, then 0/0 = NaN
@example(temperature=1e-320, top_k=40, seed=0)
@example(temperature=FLOAT32_TINIEST / 2, top_k=None, seed=0)  # rounds to 0 in float32
@example(temperature=FLOAT32_TINIEST, top_k=TOP_K_MAX, seed=0)
@example(temperature=1e-38, top_k=1, seed=0)
@example(temperature=MAX_TEMPERATURE, top_k=TOP_K_MAX, seed=0)
def test_every_temperature_in_range_samples_whole_utf8(wild: GPT, temperature: float, top_k: int | None, seed: int) -> None:
    """Any temperature and top-k that ``check_request`` lets through generates, never NaN; a temperature
    too small to tell any two logits apart is greedy."""
    raw = bytes(infer.generate_bytes(wild, "é", max_tokens=24, temperature=temperature, top_k=top_k, seed=seed))
    assert len(raw) == 24
    text = infer.complete(wild, "é", max_tokens=24, temperature=temperature, top_k=top_k, seed=seed)
    assert raw.startswith(text.encode()) and len(raw) - len(text.encode()) <= 3
    text.encode().decode("utf-8")  # strict
    if temperature <= 1e-30:  # the runner-up weighs exp(-gap / T): 0 in float64 for a gap over 7e-28, far below this model's
        assert raw == bytes(infer.generate_bytes(wild, "é", max_tokens=24, temperature=0))


def _overflowing_artifact() -> tuple[bytes, str]:
    """Finite weights (``load_artifact`` accepts them) whose activations overflow: every logit is NaN."""
    weights = {k: v.detach().clone() for k, v in build_model(TINY, seed=2).state_dict().items()}
    weights["wte.weight"].fill_(3e38)
    blob = artifacts.encode_artifact(weights, TINY, {}, {"note": "overflows"})
    return blob, hashlib.sha256(blob).hexdigest()


def test_a_model_with_non_finite_logits_is_refused_not_sampled() -> None:
    overflowing = infer.load_model(artifacts.load_artifact(*_overflowing_artifact()))
    for temperature in (0.8, 0):  # was: a RuntimeError from torch.multinomial, and NUL bytes at 0
        tokens: list[int] = []
        with pytest.raises(infer.NonFiniteLogits, match="NaN"):
            tokens.extend(infer.generate_bytes(overflowing, "x", max_tokens=5, temperature=temperature))
        assert tokens == []


async def test_a_model_with_non_finite_logits_is_served_as_model_corrupt_and_remembered(tmp_path: Path) -> None:
    settings_ = Settings(ipfs_api_url="", mirror_data_dir=tmp_path)
    blob, sha = _overflowing_artifact()
    store = open_store(settings_)
    cid = await store.put(blob)
    await store.close()
    server = ModelServer(settings_, key=None)
    try:
        loaded = await server.load(ModelRef(cid, sha))  # its weights pass every check: it loads
        assert server.loaded == 1
        with pytest.raises(ServeError) as refused:
            _ = [piece async for piece in server.stream(loaded, "x", Sampling(max_tokens=5, temperature=0.8))]
        assert refused.value.code == "model_corrupt" and "non-finite" in refused.value.public
        assert server.loaded == 0  # dropped from the cache
        with pytest.raises(ServeError) as again:
            await server.load(ModelRef(cid, sha))
        assert again.value is refused.value  # remembered: neither fetched nor run again
    finally:
        await server.close()


def test_max_tokens_is_respected(model: GPT) -> None:
    assert list(infer.generate_text(model, "abc", max_tokens=0)) == []
    assert len(list(infer.generate_bytes(model, "abc", max_tokens=7, seed=1))) == 7
    for bad in [
        {"max_tokens": -1},
        {"max_tokens": infer.MAX_TOKENS + 1},
        {"max_tokens": 5, "temperature": -1},
        {"max_tokens": 5, "top_k": 0},
    ]:
        with pytest.raises(ValueError):
            list(infer.generate_bytes(model, "abc", **bad))  # type: ignore[arg-type]


async def test_stream_text_yields_the_same_pieces(model: GPT) -> None:
    pieces = [p async for p in infer.stream_text(model, "the", max_tokens=40, seed=3, temperature=0.8)]
    assert pieces == list(infer.generate_text(model, "the", max_tokens=40, seed=3, temperature=0.8))
    assert all(pieces)


def _random_artifact(seed: int, lineage: str = "") -> tuple[bytes, str]:
    weights = {k: v.detach() for k, v in build_model(TINY, seed=seed).state_dict().items()}
    blob = artifacts.encode_artifact(weights, TINY, {}, {"note": lineage})
    return blob, hashlib.sha256(blob).hexdigest()


async def test_model_cache_is_bounded_and_loads_once() -> None:
    blobs = [_random_artifact(1, str(i)) for i in range(3)]
    nbytes = TINY.num_parameters() * 4
    cache = infer.ModelCache(max_models=2, max_bytes=10 * nbytes)
    cids = [f"cid{i}" for i in range(3)]  # the cache takes the caller's word for where a blob came from
    for cid, (blob, sha) in zip(cids, blobs, strict=True):
        assert cache.load(cid, blob, sha).nbytes == nbytes
    assert len(cache) == 2 and cache.get(cids[0], blobs[0][1]) is None  # least recently used went first
    assert cache.get(cids[1], blobs[1][1]) is not None
    assert cache.get(cids[2], blobs[1][1]) is None  # the sha256 alone finds nothing
    cache.load(cids[0], *blobs[0])
    assert cache.get(cids[2], blobs[2][1]) is None  # blobs[1] was used more recently
    by_bytes = infer.ModelCache(max_models=10, max_bytes=2 * nbytes)
    for cid, (blob, sha) in zip(cids, blobs, strict=True):
        by_bytes.load(cid, blob, sha)
    assert len(by_bytes) == 2 and by_bytes.nbytes == 2 * nbytes

    fetches: list[str] = []

    async def fetch() -> bytes:
        fetches.append("x")
        await asyncio.sleep(0.05)
        return blobs[0][0]

    fresh = infer.ModelCache()
    first, second = await asyncio.gather(fresh.aload("a", blobs[0][1], fetch), fresh.aload("a", blobs[0][1], fetch))
    assert first is second and len(fetches) == 1
    with pytest.raises(artifacts.ArtifactError, match="sha256_mismatch"):
        await fresh.aload("a", blobs[1][1], fetch)  # the blob fetched is not the one asked for
    assert fresh.get("a", blobs[1][1]) is None and len(fresh) == 1
    assert (await fresh.aload("b", blobs[0][1], fetch)) is not first and len(fetches) == 3  # another CID: fetched, checked


async def test_a_ref_is_served_only_once_its_own_cid_is_checked(tmp_path: Path) -> None:
    """The cache is keyed by (CID, sha256): a ModelVersion copying a loaded (say private) model's sha256
    beside another CID, a malformed one or one of other content, is refused, never served that model."""
    settings_ = Settings(ipfs_api_url="", mirror_data_dir=tmp_path)
    (blob, sha), (other_blob, _) = _random_artifact(5, "private"), _random_artifact(5, "other")
    store = open_store(settings_)
    cid, other_cid = await store.put(blob), await store.put(other_blob)
    await store.close()
    missing = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # the CID of b"hello", not in the store
    server = ModelServer(settings_, key=None)
    try:
        assert (await server.load(ModelRef(cid, sha))).sha256 == sha
        for wrong, code in ((other_cid, "model_corrupt"), ("not-a-cid", "model_corrupt"), (missing, "store_unavailable")):
            with pytest.raises(ServeError) as refused:
                await server.load(ModelRef(wrong, sha))
            assert refused.value.code == code, (wrong, refused.value)
        assert server.loaded == 1 and (await server.load(ModelRef(cid, sha.upper()))).sha256 == sha
    finally:
        await server.close()


async def test_the_store_out_of_reach_is_store_unavailable_and_not_remembered(kubo: Kubo, tmp_path: Path) -> None:
    """Serving through a Kubo that drops and refuses connections (a proxy): the ask is told
    ``store_unavailable``, which is not remembered like a corrupt model: once Kubo is back, the
    same model loads at the next ask."""
    blob, sha = _random_artifact(3, "served")
    cid = await KuboStore(kubo.url).put(blob)
    proxy = await TcpProxy(kubo.api_port).start()
    server = ModelServer(Settings(ipfs_api_url=f"http://127.0.0.1:{proxy.port}", mirror_data_dir=tmp_path), key=None)
    try:
        proxy.refuse = True
        with pytest.raises(ServeError) as refused:
            await server.load(ModelRef(cid, sha))
        assert refused.value.code == "store_unavailable"
        proxy.refuse = False
        assert (await server.load(ModelRef(cid, sha))).sha256 == sha and server.loaded == 1
    finally:
        await server.close()
        await proxy.close()


def test_trainer_device_is_checked_before_anything_starts(tmp_path: Path) -> None:
    """TRAINER_DEVICE: cpu, or a CUDA device this PyTorch sees; anything else stops the daemon at start,
    saying why, instead of failing every job. (cuda:99 is refused on any machine, with a GPU or not.)"""
    assert train.training_device(" cpu ") == torch.device("cpu")
    assert train.limits_for(torch.device("cpu")) is train.DEFAULT_LIMITS
    assert train.limits_for(torch.device("cuda")).micro_batch_tokens > train.DEFAULT_LIMITS.micro_batch_tokens
    for bad, why in (("tpu", "is not a device"), ("mps", "only cpu and cuda"), ("cuda:99", "CUDA device"), ("", "is not a device")):
        with pytest.raises(ValueError, match=why):
            train.training_device(bad)
    env = {**os.environ, "TRAINER_DEVICE": "cuda:99", "MIRROR_DATA_DIR": str(tmp_path), "TRAINER_METRICS_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "trainer", "--max-jobs", "0"], env=env, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "trainer_device_unusable" in out and "cuda:99" in out, out
