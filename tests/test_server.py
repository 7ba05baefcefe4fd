"""`bertex serve` as a real process on loopback: the OpenAI client, every level of /v1/embed
against the library, every error case with its status and body, auth, overload, dropped
work and deadlines."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import bertex

BIN = Path(sys.executable).with_name("bertex")
KEY = "sk-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None = None, log=None) -> None:
    """Wait for /health to answer 200 (a process that exits first fails with its output)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log.seek(0)
            raise AssertionError(log.read().decode())
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy")


class Server:
    def __init__(self, model: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(BIN), "serve", str(model), "--port", str(self.port), *flags]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.url, self.proc, self.log)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode()

    def post(
        self,
        path: str,
        body=None,
        key: str | None = KEY,
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        data = raw if raw is not None else json.dumps(body).encode()
        return httpx.post(self.url + path, content=data, headers=headers, timeout=timeout)

    def metric(self, name: str) -> float:
        text = httpx.get(self.url + "/metrics").text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(name + " ") or line.startswith(name + "{")
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def server(bert_dir):
    s = Server(
        bert_dir,
        "--api-key",
        KEY,
        "--max-inputs",
        "8",
        "--max-queue",
        "64",
        "--max-body-bytes",
        "20000",
        "--max-chars",
        "5000",
    )
    yield s
    s.stop()


TEXTS = ["a man is dancing", "the child rides a horse", "a woman plays the guitar"]


def test_openai_client_float_and_base64(server, tiny_bert, bert_dir):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY)
    want = tiny_bert.embed(TEXTS, level="sentence").vectors
    default = client.embeddings.create(model=str(bert_dir), input=TEXTS)  # base64 on the wire
    as_float = client.embeddings.create(model=str(bert_dir), input=TEXTS, encoding_format="float")
    for resp in (default, as_float):
        got = np.array([d.embedding for d in resp.data], dtype=np.float32)
        assert np.abs(got - want).max() <= 1e-5
        assert [d.index for d in resp.data] == [0, 1, 2]
    seen = sum(r.seen_tokens for r in tiny_bert.embed(TEXTS, level="sentence").reports)
    assert default.usage.prompt_tokens == default.usage.total_tokens == seen
    one = client.embeddings.create(model=str(bert_dir), input="a man is dancing")
    assert np.abs(np.array(one.data[0].embedding) - want[0]).max() <= 1e-5


def test_base64_is_little_endian_float32(server, tiny_bert):
    r = server.post("/v1/embeddings", {"input": TEXTS[:1], "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    got = np.frombuffer(raw, dtype="<f4")
    assert np.abs(got - tiny_bert.embed(TEXTS[0], level="sentence").vector).max() <= 1e-5


def test_dimensions_truncate_and_renormalize(server, tiny_bert):
    r = server.post("/v1/embeddings", {"input": TEXTS, "dimensions": 8}).json()
    got = np.array([d["embedding"] for d in r["data"]])
    full = tiny_bert.embed(TEXTS, level="sentence").vectors[:, :8]
    want = full / np.linalg.norm(full, axis=1, keepdims=True)
    assert got.shape == (3, 8) and np.abs(got - want).max() <= 1e-5


@pytest.mark.parametrize("level", ["token", "word", "sentence", "hidden_states"])
def test_v1_embed_equals_the_library(server, tiny_bert, level):
    body = {"input": TEXTS, "level": level}
    if level == "token":
        body.update(layers=[-2, -1], combine="mean", special_tokens=False)
    r = server.post("/v1/embed", body)
    assert r.status_code == 200, r.text
    doc = r.json()
    lib_kwargs = {k: v for k, v in body.items() if k != "input"}
    want = tiny_bert.embed(TEXTS, **lib_kwargs)
    assert doc["meta"]["level"] == level
    if level == "sentence":
        got = np.array([d["embedding"] for d in doc["data"]])
        assert np.abs(got - want.vectors).max() <= 1e-5
        return
    for rec, w in zip(doc["data"], want):
        assert np.abs(np.array(rec["embedding"]) - w.vectors).max() <= 1e-5
        assert rec["offsets"] == w.offsets.tolist()
        assert rec.get("tokens", rec.get("words")) == list(getattr(w, "tokens", None) or w.words)


def test_v1_embed_pairs_attentions_and_tokenize(server, tiny_bert):
    r = server.post(
        "/v1/embed",
        {"input": ["a man"], "text_pair": ["a horse"], "level": "token", "attentions": True},
    ).json()
    w = tiny_bert.embed(["a man"], ["a horse"], level="token", attentions=True)[0]
    assert np.abs(np.array(r["data"][0]["attentions"]) - w.attentions).max() <= 1e-5
    assert r["data"][0]["sequence_ids"] == w.sequence_ids.tolist()
    t = server.post("/v1/tokenize", {"input": "Riding horses"}).json()["data"][0]
    assert t["tokens"] == list(tiny_bert.tokenize("Riding horses").tokens)
    assert t["unk_count"] == 0 and len(t["offsets"]) == len(t["ids"])


def test_models_info_health_metrics(server, bert_dir):
    models = httpx.get(server.url + "/v1/models", headers={"authorization": f"Bearer {KEY}"})
    assert models.json()["data"][0]["id"] == str(bert_dir)
    info = httpx.get(server.url + "/info", headers={"authorization": f"Bearer {KEY}"}).json()
    assert info["dims"] == 32 and info["num_layers"] == 2 and info["max_input_tokens"] == 64
    assert info["limits"]["max_inputs"] == 8 and info["bertex_version"] == bertex.__version__
    assert httpx.get(server.url + "/health").status_code == 200  # no key needed
    text = httpx.get(server.url + "/metrics").text
    for name in (
        "bertex_requests_total",
        "bertex_tokens_total",
        "bertex_queue_depth",
        "bertex_queue_seconds",
        "bertex_tokenize_seconds",
        "bertex_forward_seconds",
    ):
        assert name in text


ERRORS = [
    ({"input": ""}, 422, "input[0]", "empty_input"),
    ({"input": []}, 422, "input", "empty_input"),
    ({"input": ["ok", "  "]}, 422, "input[1]", "empty_input"),
    ({"input": None}, 422, "input", "missing_field"),
    ({"input": 42}, 422, "input", "invalid_type"),
    ({"input": ["ok", 3]}, 422, "input[1]", "invalid_input"),
    ({"input": [[1, 2, 3]]}, 422, "input[0]", "invalid_input"),
    ({"input": "ok", "encoding_format": "hex"}, 422, "encoding_format", "invalid_value"),
    ({"input": "ok", "dimensions": 0}, 422, "dimensions", "invalid_value"),
    ({"input": "ok", "dimensions": 33}, 422, "dimensions", "invalid_value"),
    ({"input": "ok", "model": "text-embedding-3-small"}, 404, "model", "model_not_found"),
    ({"input": ["x"] * 9}, 413, "input", "too_many_inputs"),
    ({"input": "x" * 5001}, 413, "input[0]", "input_too_long"),
    ({"input": "\u0000\u0001"}, 422, "input[0]", "empty_input"),
]


@pytest.mark.parametrize("body,status,param,code", ERRORS)
def test_error_cases(server, body, status, param, code):
    r = server.post("/v1/embeddings", body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["param"], err["code"]) == (param, code) and err["message"]


@pytest.mark.parametrize(
    "raw,status,code",
    [
        (b'{"input": "ok"', 400, "invalid_json"),
        (b'{"input": "caf\xe9"}', 400, "invalid_encoding"),
        (b'{"input": "\\ud800"}', 422, "invalid_input"),
        (b'["not", "an", "object"]', 422, "invalid_type"),
        (b'{"input": "' + b"x" * 30000 + b'"}', 413, "body_too_large"),
    ],
)
def test_body_errors(server, raw, status, code):
    r = server.post("/v1/embeddings", raw=raw)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_auth(server):
    for key in (None, "wrong"):
        r = server.post("/v1/embeddings", {"input": "ok"}, key=key)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(server.url + "/v1/models").status_code == 401
    r = httpx.get(server.url + "/nope", headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_concurrent_requests_share_passes_and_equal_alone(server, tiny_bert):
    texts = [f"the child rides horse number {i}" for i in range(24)]
    want = tiny_bert.embed(texts, level="sentence").vectors
    before = server.metric("bertex_batch_texts_count")
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda t: server.post("/v1/embeddings", {"input": t}), texts))
    got = np.array([r.json()["data"][0]["embedding"] for r in responses])
    assert np.abs(got - want).max() <= 1e-5
    passes = server.metric("bertex_batch_texts_count") - before
    assert passes < len(texts)  # some requests shared a forward pass


def test_overload_gives_429_at_once_and_recovers(bert_dir):
    s = Server(bert_dir, "--max-queue", "8", "--max-inputs", "8", "--batch-wait-ms", "1500")
    try:
        body = {"input": ["a man is dancing"] * 4}
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(s.post, "/v1/embeddings", body, None) for _ in range(6)]
            time.sleep(0.5)
            assert httpx.get(s.url + "/health").status_code == 200  # health stays up
            statuses = [f.result().status_code for f in futures]
        assert statuses.count(429) >= 2 and statuses.count(200) >= 2
        limited = next(f.result() for f in futures if f.result().status_code == 429)
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert s.post("/v1/embeddings", body, None).status_code == 200  # recovered
    finally:
        s.stop()


def test_disconnected_client_work_is_dropped_and_deadline_answers_503(bert_dir):
    s = Server(bert_dir, "--batch-wait-ms", "1500", "--deadline", "0.5")
    try:
        with pytest.raises(httpx.TimeoutException):
            s.post("/v1/embeddings", {"input": "gone"}, None, timeout=0.3)
        r = s.post("/v1/embeddings", {"input": "slow"}, None)
        assert r.status_code == 503 and r.json()["error"]["code"] == "deadline_exceeded"
        time.sleep(2.0)
        assert s.metric("bertex_dropped_jobs_total") == 2
        assert s.metric("bertex_tokens_total") == 0  # neither reached the model
    finally:
        s.stop()


def test_refuses_limits_that_can_never_be_met(bert_dir):
    p = subprocess.run(
        [str(BIN), "serve", str(bert_dir), "--max-batch-tokens", "10"],
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert p.returncode == 2 and "max_batch_tokens=10" in p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()


def test_the_old_batch_tokens_flag_still_works_and_says_its_new_name(bert_dir, capsys):
    from bertex.cli.main import main

    port = str(free_port())
    assert main(["serve", str(bert_dir), "--port", port, "--batch-tokens", "10"]) == 2
    err = capsys.readouterr().err
    assert "--max-batch-tokens" in err and "max_batch_tokens=10" in err


def test_health_is_503_until_warm(tiny_bert):
    from starlette.testclient import TestClient

    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig

    app = create_app(tiny_bert, ServerConfig())
    # without `with`: the lifespan (load + warm-up) has not run
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/health").status_code == 503
    r = client.post("/v1/embeddings", json={"input": "x"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
    with TestClient(app, base_url="http://127.0.0.1") as warm:
        for _ in range(100):
            if warm.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        assert warm.get("/health").status_code == 200
    app.state.bertex.engine.close()


def test_without_fastapi_the_error_names_the_extra(monkeypatch, capsys):
    from bertex.cli.main import main

    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve"]) == 2
    assert "pip install -e '.[server]'" in capsys.readouterr().err


def test_server_config_from_environment_and_flags():
    from bertex.server.config import ServerConfig

    env = {
        "BERTEX_PORT": "9001",
        "BERTEX_API_KEYS": "a, b,",
        "BERTEX_MAX_QUEUE": "600",
        "BERTEX_DEADLINE_S": "2.5",
        "BERTEX_MODEL": "/models/x",
    }
    c = ServerConfig.from_env(env, max_inputs=100)
    assert (c.port, c.api_keys, c.max_queue, c.deadline_s, c.max_inputs) == (
        9001,
        ("a", "b"),
        600,
        2.5,
        100,
    )
    assert bertex.config.LoadOptions.from_env(env).model == "/models/x"  # the model: one source
    assert c.host == "127.0.0.1"
    with pytest.raises(bertex.OptionError, match="max_queue"):
        ServerConfig.from_env({}, max_queue=10, max_inputs=20)
    with pytest.raises(bertex.OptionError, match="batch_tokens"):
        ServerConfig().check(max_length=100_000)


def test_api_key_file(tmp_path):
    from bertex.server.config import read_keys

    f = tmp_path / "keys"
    f.write_text("# team keys\nsk-1\n\n  sk-2  \n")
    assert read_keys(f) == ("sk-1", "sk-2")


def test_serve_on_the_onnx_backend(bert_dir, tiny_bert, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    s = Server(bert_dir, "--backend", "onnx")
    try:
        r = s.post("/v1/embed", {"input": TEXTS, "level": "sentence"}, None).json()
        assert r["meta"]["backend"] == "onnx" and r["meta"]["precision"] == "fp32"
        got = np.array([d["embedding"] for d in r["data"]])
        assert np.abs(got - tiny_bert.embed(TEXTS, level="sentence").vectors).max() <= 1e-4
    finally:
        s.stop()
