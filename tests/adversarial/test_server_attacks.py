"""Attacks on the server (issue 16's server points), each bounded to seconds: the same shapes as
the originals with smaller sizes. Real sockets throughout: a uvicorn server in a thread around
the fake backend, and real `bertex serve` processes where start-up and signals matter."""

from __future__ import annotations

import re
import signal
import socket
import time

import httpx
import numpy as np
import pytest

from bertex.cli.main import main
from bertex.fake import fake_model
from test_server import Server, free_port

KEY = "sk-attack"
LONG = [f"a man is riding horse number {i}" for i in range(40)]


@pytest.fixture(scope="module")
def model():
    return fake_model()


# -- 5: response amplification -------------------------------------------------------------


def test_answer_size_is_counted_before_computing_and_refused_with_413(serve, model):
    s = serve(model, max_output_floats=5_000)
    batches = len(model.backend.batches)
    body = {"input": ["the man rides a horse " * 4] * 8, "level": "token", "attentions": True}
    r = s.post("/v1/embed", body)
    assert r.status_code == 413
    err = r.json()["error"]
    assert err["code"] == "response_too_large"
    assert "5,000" in err["message"] and "attentions=false" in err["message"]
    r = s.post("/v1/embed", {"input": ["a cat"] * 8, "level": "hidden_states"})
    assert r.status_code == 200  # small enough
    r = s.post("/v1/embed", {"input": ["a cat " * 5] * 64, "level": "hidden_states"})
    assert r.status_code == 413 and "level='sentence'" in r.json()["error"]["message"]
    assert len(model.backend.batches) == batches + 1  # only the small request reached the model


def test_answers_are_rendered_off_the_event_loop(serve, model, monkeypatch):
    import threading

    from bertex.server import routes

    seen = []
    body = routes._embed_body

    def spy(*args):
        seen.append(threading.current_thread())
        return body(*args)

    monkeypatch.setattr(routes, "_embed_body", spy)
    s = serve(model)
    assert s.post("/v1/embed", {"input": ["a cat"] * 4, "level": "token"}).status_code == 200
    assert seen and seen[0] is not s.thread  # not the thread that runs the event loop


def test_repeated_layers_are_refused(serve, model):
    s = serve(model)
    r = s.post("/v1/embed", {"input": "a cat", "level": "token", "layers": [0] * 3000})
    assert r.status_code == 422 and r.json()["error"]["param"] == "layers"
    assert "more than once" in r.json()["error"]["message"]


# -- 8: a client holding a partial body ------------------------------------------------------


def _partial_body(
    port: int, path: str = "/v1/embed", sent: bytes = b'{"input": "a'
) -> socket.socket:
    c = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    c.sendall(head.encode() + sent)
    return c


def test_a_body_that_never_completes_gets_408(serve, model):
    s = serve(model, body_timeout_s=0.5)
    c = _partial_body(s.port)
    c.settimeout(5)
    answer = b""
    while b"body_timeout" not in answer and (chunk := c.recv(4096)):
        answer += chunk
    c.close()
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408") and "body_timeout" in answer


def test_sigterm_with_a_partial_body_held_exits_in_bounded_time(bert_dir):
    s = Server(bert_dir, "--shutdown-timeout", "1")
    c = _partial_body(s.port)
    time.sleep(0.2)
    start = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    try:
        s.proc.wait(timeout=15)
    finally:
        s.proc.kill()
    assert time.monotonic() - start < 8
    c.close()
    out = s.output()  # the start-up line and the warning (issue 15 point 8)
    assert f"listening on {s.url} ({bert_dir}, torch on cpu, " in out
    assert re.search(r", (1 worker|[2-9] workers)\)", out), out
    assert "warning: no API key" in out
    s.log.close()


# -- 9: disconnected clients and deadlines stop running work ----------------------------------


def test_a_disconnected_client_has_its_running_work_dropped_between_passes(serve):
    slow = fake_model(delay_s=0.05)
    s = serve(slow, max_batch_tokens=40)  # about 4 texts per pass: 10 passes for LONG
    with pytest.raises(httpx.TimeoutException):
        s.post("/v1/embed", {"input": LONG}, timeout=0.25)  # the client leaves mid-work
    time.sleep(0.6)
    ran = sum(slow.backend.batches) - 1  # the warm-up ran one text
    time.sleep(0.3)
    assert sum(slow.backend.batches) - 1 == ran  # nothing more of it runs
    assert ran < len(LONG)
    assert s.metric("bertex_dropped_texts_total", reason="cancelled") == len(LONG) - ran
    assert s.metric("bertex_client_disconnects_total", stage="waiting") == 1
    r = s.post("/v1/embed", {"input": "a cat"})  # the model is free at once
    assert r.status_code == 200


def test_a_deadline_stops_running_work(serve):
    slow = fake_model(delay_s=0.05)
    s = serve(slow, max_batch_tokens=40, deadline_s=0.2)
    r = s.post("/v1/embed", {"input": LONG})
    assert r.status_code == 503 and r.json()["error"]["code"] == "deadline_exceeded"
    time.sleep(0.3)
    ran = sum(slow.backend.batches) - 1  # the warm-up ran one text
    assert ran < len(LONG) and s.metric("bertex_dropped_jobs_total", reason="deadline") == 1


# -- 12: /metrics labels ---------------------------------------------------------------------


def test_metrics_labels_are_route_templates_whatever_the_paths(serve, model):
    s = serve(model)
    for i in range(50):
        httpx.get(f"{s.url}/random-{i}")
    s.post("/v1/embeddings", {"input": "a cat"})
    text = httpx.get(s.url + "/metrics").text
    assert "random-" not in text
    assert s.metric("bertex_requests_total", route="other", status="404") == 50
    assert s.metric("bertex_requests_total", route="/v1/embeddings", status="200") == 1


# -- 13, 16, 20: start-up refusals, one line, exit 2, no traceback ----------------------------


def _refused(argv: list[str], capsys, *words: str) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--api-key", ""], ["api_keys"]),
        (["--port", "70000"], ["port=70000", "--port"]),
        (["--host", "bogus.invalid"], ["host='bogus.invalid'", "--host"]),
        (["--max-body-bytes", "1"], ["max_body_bytes=1", "--max-body-bytes"]),
        (["--deadline", "0"], ["deadline_s=0", "--deadline"]),
    ],
)
def test_impossible_start_up_options_exit_2_with_one_line(argv, words, capsys, monkeypatch):
    monkeypatch.setenv("BERTEX_PORT", str(free_port()))
    _refused(argv, capsys, *words)


def test_key_files_that_hold_no_key_or_are_missing_are_refused(tmp_path, capsys):
    empty = tmp_path / "keys"
    empty.write_text("# no keys yet\n\n")
    _refused(["--api-key-file", str(empty)], capsys, "holds no key")
    _refused(["--api-key-file", str(tmp_path / "missing")], capsys, "--api-key-file")
    _refused(["--api-key-file", str(tmp_path)], capsys, "folder")


@pytest.mark.parametrize(
    "name,value,words",
    [("BERTEX_API_KEYS", " , ", ["api_keys"]), ("BERTEX_PORT", "abc", ["BERTEX_PORT='abc'"])],
)
def test_environment_values_are_checked(name, value, words, capsys, monkeypatch):
    monkeypatch.setenv(name, value)
    _refused([], capsys, *words)


def test_a_port_in_use_is_one_line(capsys, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _refused(["--port", str(port)], capsys, f"port={port}", "in use")


def test_binding_beyond_loopback_without_a_key_warns_loudly():
    from bertex.cli.serve import _warnings
    from bertex.server.config import ServerConfig

    wide = _warnings(ServerConfig(host="0.0.0.0"), "http://0.0.0.0:8080", None, False)
    assert "WITHOUT AN API KEY" in wide[0] and "--allowed-hosts" in wide[1]
    assert _warnings(ServerConfig(api_keys=("k",), host="0.0.0.0"), "u", None, False) == []


# -- 15: a keyless server and the browser -----------------------------------------------------


def test_keyless_server_refuses_simple_cross_origin_posts_and_other_hosts(serve, model):
    s = serve(model)
    body = b'{"input": "a cat"}'
    r = httpx.post(s.url + "/v1/embeddings", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]["message"]
    r = httpx.post(s.url + "/v1/embeddings", json={"input": "a cat"}, headers={"host": "evil.test"})
    assert r.status_code == 421 and r.json()["error"]["code"] == "host_not_allowed"
    r = httpx.post(
        s.url + "/v1/embeddings", json={"input": "a cat"}, headers={"host": f"localhost:{s.port}"}
    )
    assert r.status_code == 200
    named = serve(model, allowed_hosts=("embed.internal",))
    for host, status in (("embed.internal", 200), ("other.test", 421), ("localhost", 200)):
        r = named.post("/v1/embeddings", {"input": "a"}, headers={"host": host})
        assert r.status_code == status, host


def test_a_server_with_a_key_answers_any_host(serve, model):
    s = serve(model, api_keys=(KEY,))
    headers = {"host": "anything.test", "authorization": f"Bearer {KEY}"}
    assert s.post("/v1/embeddings", {"input": "a cat"}, headers=headers).status_code == 200


# -- 17: hostile bodies are 4xx, and a client leaving mid-body is one line --------------------


def test_deeply_nested_json_is_400(serve, model):
    s = serve(model)
    raw = b'{"input": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    r = httpx.post(s.url + "/v1/embed", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested" in r.json()["error"]["message"]


@pytest.fixture
def high_recursion_limit():
    """What mypy.api.run leaves behind in the process that calls it (tests/test_typing.py)."""
    import sys

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(2**14)
    yield
    sys.setrecursionlimit(before)


def test_nesting_is_bounded_by_the_server_not_the_recursion_limit(
    serve, model, high_recursion_limit
):
    """json.loads stops at sys.getrecursionlimit(), which any library may raise for the whole
    process (mypy.api.run leaves it at 2**14): the server's own bound decides, the same in any
    process; at the bound a body is parsed (and checked as usual)."""
    import doctest

    from bertex.server import schemas

    s = serve(model)
    headers = {"content-type": "application/json"}

    def post(depth: int) -> httpx.Response:  # {"input": [[...]]}: `depth` levels in all
        raw = b'{"input": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
        return httpx.post(s.url + "/v1/embed", content=raw, headers=headers)

    for depth in (10_000, schemas.MAX_JSON_DEPTH + 1):
        r = post(depth)
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"]
    assert post(schemas.MAX_JSON_DEPTH).status_code == 422  # parsed: not a list of strings
    assert schemas.json_depth(b'{"a": "[[[{{{", "b": ["\\"]"]}') == 2  # strings skipped
    assert doctest.testmod(schemas).failed == 0


def test_a_client_leaving_mid_body_is_no_500_and_one_log_line(serve, model, caplog):
    s = serve(model)
    for _ in range(3):
        _partial_body(s.port).close()
    time.sleep(0.5)
    assert s.metric("bertex_client_disconnects_total", stage="body") == 3
    assert s.metric("bertex_requests_total", status="500") == 0
    lines = [r for r in caplog.records if r.name.startswith(("bertex", "uvicorn"))]
    assert len(lines) == 3 and all("\n" not in r.getMessage() for r in lines)


# -- 18: unknown fields are errors that name the valid ones ----------------------------------


@pytest.mark.parametrize(
    "path,body,status,param",
    [
        ("/v1/embed", {"input": "a", "levle": "token"}, 422, "levle"),
        ("/v1/embed", {"input": "a", "encoding_format": "hex"}, 422, "encoding_format"),
        ("/v1/embed", {"input": "a", "model": "text-embedding-3-small"}, 404, "model"),
        ("/v1/embeddings", {"input": "a", "dimension": 8}, 422, "dimension"),
        ("/v1/tokenize", {"input": "a", "level": "token"}, 422, "level"),
    ],
)
def test_unknown_or_wrong_fields_are_refused(serve, model, path, body, status, param):
    r = serve(model).post(path, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    if status == 422 and param not in ("encoding_format",):
        assert "valid fields" in r.json()["error"]["message"]


def test_tokenize_honours_pairs_max_length_and_split_words(serve, model):
    s = serve(model)
    r = s.post("/v1/tokenize", {"input": "a man", "text_pair": "a horse"}).json()["data"][0]
    assert r["tokens"] == list(model.tokenize("a man", "a horse").tokens)
    long = "a man is riding a horse " * 4
    r = s.post("/v1/tokenize", {"input": long, "max_length": 8}).json()["data"][0]
    want = model.tokenize(long, max_length=8)
    assert r["n_windows"] == want.report.n_windows > 1
    r = s.post("/v1/tokenize", {"input": ["a", "horse"], "is_split_into_words": True}).json()
    assert r["data"][0]["tokens"] == list(
        model.tokenize(["a", "horse"], is_split_into_words=True).tokens
    )


def test_v1_embed_still_equals_the_library_after_the_guards(serve, model):
    s = serve(model)
    r = s.post("/v1/embed", {"input": ["a cat", "a dog"], "level": "sentence"}).json()
    got = np.array([d["embedding"] for d in r["data"]])
    assert np.array_equal(got, model.embed(["a cat", "a dog"], level="sentence").vectors)
    r = s.post("/v1/embed", {"input": "a cat", "dimensions": 4, "normalize": True}).json()
    want = model.embed("a cat", dimensions=4, normalize=True).vectors
    assert np.allclose(r["data"][0]["embedding"], want[0], atol=1e-6)


def test_v1_embed_level_window_equals_the_library_and_is_counted(serve, model):
    s = serve(model, max_output_floats=16 * 32)
    doc = "a man is riding a horse " * 12
    r = s.post("/v1/embed", {"input": doc, "level": "window"})
    assert r.status_code == 200, r.status_code
    rec, want = r.json()["data"][0], model.embed([doc], level="window")[0]
    assert rec["spans"] == want.spans.tolist() and rec["shape"] == list(want.vectors.shape)
    assert np.allclose(rec["embedding"], want.vectors, atol=1e-6)
    too_many = {"input": [doc] * 20, "level": "window"}  # 20 x W windows x 16 numbers
    assert s.post("/v1/embed", too_many).json()["error"]["code"] == "response_too_large"
