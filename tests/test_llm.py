"""LLM backends (llama.cpp, OpenAI-compatible HTTP, transformers VLM), output parsing, and the LLM reranker."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from llm_fakes import KeywordLLM
from xmodal.llm import BACKENDS, LLMError, LLMOutputError, LLMTimeout, LLMUnavailable, extract_json, get_backend, parse_score
from xmodal.llm.base import yes_no_from_top_logprobs
from xmodal.llm.evidence import evidence_prompt, item_evidence, tag_names
from xmodal.rerank import RERANKERS, Candidate, RerankQuery
from xmodal.rerank.llm import LLMReranker
from xmodal.types import Media, Modality, Segment

# ------------------------------------------------------------------ parsing


def test_extract_json_tolerates_fences_and_chatter_and_names_bad_output():
    assert extract_json('Sure! ```json\n{"score": 7}\n``` hope it helps') == {"score": 7}
    assert extract_json('The answer is {"a": [1, 2]} ok') == {"a": [1, 2]}
    with pytest.raises(LLMOutputError, match="no JSON object found.*I cannot"):
        extract_json("I cannot do that")
    with pytest.raises(LLMOutputError, match="empty reply"):
        extract_json("  ")


def test_parse_score_variants_and_clamping():
    assert parse_score('{"score": 8}') == 8
    assert parse_score("Score: 7/10 because it shows a dog") == 7
    assert parse_score('{"score": 42}') == 10
    with pytest.raises(LLMOutputError):
        parse_score("no idea")


def test_yes_no_logit_sums_token_variants():
    lg = yes_no_from_top_logprobs([("Yes", math.log(0.3)), (" yes", math.log(0.1)), ("No", math.log(0.4)), ("The", -1)])
    assert lg == pytest.approx(math.log(0.4) - math.log(0.4))
    assert yes_no_from_top_logprobs([("The", -0.1)]) is None
    assert yes_no_from_top_logprobs([("yes", -0.1)]) > 10  # "no" absent from the top list


def test_evidence_is_content_only_and_compact():
    segs = [Segment("region", box=(0, 0, 0.5, 0.5)), Segment("tags", text="castle 0.41; palace 0.20")]
    ev = item_evidence("image", "OPEN DAILY", segs, Segment("region", box=(0, 0, 0.5, 0.5)))
    line = evidence_prompt("image", ev)
    assert line == "image; objects seen: castle, palace; text in the image: OPEN DAILY"
    assert tag_names("tabby cat 0.62; tiger cat 0.11") == ["tabby cat", "tiger cat"]
    audio = item_evidence("audio", "hello there", [Segment("window", start=0.0, end=1.5, text="hello there"),
                                                   Segment("window", start=0.0, end=3.0, text="sound: dog bark")])
    assert [(e.kind, e.start) for e in audio] == [("transcript", 0.0), ("sound", 0.0)]


# ------------------------------------------------------------------ OpenAI-compatible stub server


class _Stub(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []
    mode = "ok"

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if _Stub.mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "model exploded"}')
            return
        if _Stub.mode == "slow":
            time.sleep(1.0)
        choice = {"index": 0, "message": {"role": "assistant", "content": '{"score": 9}' if body.get("response_format") else "yes it is"}}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": "Yes", "logprob": math.log(0.8),
                                               "top_logprobs": [{"token": "Yes", "logprob": math.log(0.8)}, {"token": "No", "logprob": math.log(0.2)}]}]}
        data = json.dumps({"choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def stub():
    _Stub.requests, _Stub.mode = [], "ok"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_backend_round_trip(stub):
    from PIL import Image

    llm = BACKENDS.create("openai", base_url=stub, model="m", api_key="k", images=True)
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    img = Image.new("RGB", (8, 8), (255, 0, 0))
    msgs = [{"role": "user", "content": [{"type": "text", "text": "rate"}, {"type": "image", "image": img}]}]
    assert llm.chat(msgs, json_schema=schema, max_tokens=5) == '{"score": 9}'
    req = _Stub.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k"
    assert req["body"]["response_format"]["json_schema"]["schema"] == schema
    assert req["body"]["temperature"] == 0.0 and req["body"]["max_tokens"] == 5
    parts = req["body"]["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert llm.yes_no([{"role": "user", "content": "x"}]) == pytest.approx(math.log(0.8 / 0.2))
    # a text-only endpoint gets the text parts flattened
    txt = BACKENDS.create("openai", base_url=stub, model="m")
    txt.chat(msgs)
    assert _Stub.requests[-1]["body"]["messages"][0]["content"] == "rate"


def test_openai_backend_errors_are_clear(stub):
    llm = BACKENDS.create("openai", base_url=stub, model="m")
    _Stub.mode = "error"
    with pytest.raises(LLMError, match="HTTP 500.*model exploded"):
        llm.chat([{"role": "user", "content": "x"}])
    _Stub.mode = "slow"
    with pytest.raises(LLMTimeout, match="within 0.2 s"):
        llm.chat([{"role": "user", "content": "x"}], timeout_s=0.2)
    dead = BACKENDS.create("openai", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        dead.chat([{"role": "user", "content": "x"}], timeout_s=2)


# ------------------------------------------------------------------ transformers VLM (tiny random)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    out = tmp_path_factory.mktemp("tinyvlm")
    words = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "yes", "no", "user", "assistant", "system", ":", "?",
             "question", "item", "relevant", "a", "cat", "dog", "answer"] + [f"w{i}" for i in range(30)]
    tk = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    template = ("{% for m in messages %}{{ m['role'] }} : {% for p in m['content'] %}{% if p['type'] == 'image' %}<image> "
                "{% else %}{{ p['text'] }} {% endif %}{% endfor %}</s> {% endfor %}{% if add_generation_prompt %}assistant : {% endif %}")
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}),
                          tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", chat_template=template,
                          num_additional_image_tokens=1)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=16, patch_size=8, projection_dim=16),
        text_config=LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                                pad_token_id=0, bos_token_id=2, eos_token_id=3),
        image_token_id=4, vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).eval().save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.mark.slow
def test_transformers_vlm_sees_images_deterministically(tiny_vlm, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llm = BACKENDS.create("transformers-vlm", model=str(tiny_vlm))
    red, blue = Image.new("RGB", (20, 12), (250, 0, 0)), Image.new("RGB", (20, 12), (0, 0, 250))
    msg = lambda img: [{"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": "a cat ?"}]}]
    a, b = llm.chat(msg(red), max_tokens=4), llm.chat(msg(red), max_tokens=4)
    assert a == b and isinstance(a, str)
    ly_red, ly_blue = llm.yes_no(msg(red)), llm.yes_no(msg(blue))
    assert math.isfinite(ly_red) and ly_red != ly_blue  # the pixels reach the model
    with pytest.raises(LLMUnavailable, match="cannot load"):
        BACKENDS.create("transformers-vlm", model=str(tiny_vlm / "missing")).chat(msg(red))


# ------------------------------------------------------------------ llama.cpp (real packaged SmolLM2)


@pytest.mark.slow
def test_llamacpp_smollm2_json_schema_and_logprobs():
    pytest.importorskip("xllamacpp")
    from xmodal.llm.llamacpp import model_path

    try:
        model_path("smollm2")
    except LLMUnavailable as e:
        pytest.skip(str(e))
    llm = get_backend("llamacpp")
    assert get_backend("llamacpp") is llm  # loaded once per process
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}}, "required": ["score"]}
    msgs = [{"role": "user", "content": "Rate 0-10 how well 'a red apple' matches 'fruit'."}]
    out = llm.chat(msgs, json_schema=schema, max_tokens=20, timeout_s=60)
    assert 0 <= json.loads(out)["score"] <= 10  # grammar-constrained: always valid JSON
    assert llm.chat(msgs, json_schema=schema, max_tokens=20, timeout_s=60) == out  # deterministic
    assert math.isfinite(llm.yes_no([{"role": "user", "content": "Is a dog an animal? Answer yes or no."}], timeout_s=60))
    with pytest.raises(LLMUnavailable, match="no such GGUF"):
        BACKENDS.create("llamacpp", model="/nonexistent/model.gguf").chat(msgs)


# ------------------------------------------------------------------ LLM reranker


def _cand(i: int, tags: str, modality=Modality.IMAGE, text: str = "") -> Candidate:
    return Candidate(id=f"c{i}", path=f"/data/{tags.split()[0]}-castle.png", modality=modality, text=text,
                     vector=np.zeros(4, np.float32), tokens=np.zeros((0, 4), np.float32),
                     segments=[Segment("tags", text=tags)], first_stage_score=1.0 - i / 10, first_stage_rank=i + 1)


def _query(text: str) -> RerankQuery:
    return RerankQuery(text=text, parts=[Media(Modality.TEXT, text=text)], embeddings=[], vector=np.zeros(4))


def test_llm_reranker_orders_by_evidence_not_file_names():
    fake = KeywordLLM()
    rr = RERANKERS.create("llm", backend=fake)
    cands = [_cand(0, "garbage truck 0.6"), _cand(1, "pomegranate 0.3"), _cand(2, "castle 0.41; palace 0.2")]
    scores = rr.rerank(_query("A castle in ruins."), cands)
    assert [s.score for s in scores] == [-3.0, -3.0, 3.0]
    assert "castle" in scores[2].reason
    # every path contains "castle": the file name must never reach the prompt
    assert all("/data/" not in c["prompt"] for c in fake.calls)
    assert rr.fusion_weight == 0.3


def test_llm_reranker_time_budget_keeps_first_stage_order_for_the_rest():
    fake = KeywordLLM(delay_s=0.4)  # wide enough that a scheduling stall does not eat the budget
    rr = LLMReranker(backend=fake, time_budget_s=1.0)
    cands = [_cand(i, t) for i, t in enumerate(["castle 0.5", "dog 0.5", "castle 0.4", "cat 0.3", "castle 0.2"])]
    scores = rr.rerank(_query("castle"), cands)
    judged = rr.last_stats["judged"]
    assert 1 <= judged < 5 and rr.last_stats["timed_out"]
    rest = scores[judged:]
    assert len({s.score for s in rest}) == 1 and rest[0].score < min(s.score for s in scores[:judged])
    assert "1 s budget" in rest[0].reason and "first-stage order kept" in rest[0].reason
    from xmodal.rerank import fuse_scores

    fused = fuse_scores([c.first_stage_score for c in cands], [s.score for s in scores], rr.fusion_weight)
    tail = fused[judged:]
    assert list(tail) == sorted(tail, reverse=True)  # unjudged: first-stage order


def test_llm_reranker_score_fallback_and_listwise():
    no_lp = KeywordLLM(reply=lambda p: '{"score": 9}' if "castle" in p.split("Retrieved item:")[1] else "Score: 2/10", logprobs=False)
    rr = LLMReranker(backend=no_lp)
    s = rr.rerank(_query("castle"), [_cand(0, "dog 0.5"), _cand(1, "castle 0.5")])
    # 0-10 scores are mapped onto the yes/no logit scale, keeping their order: 2/10 → −1.3, 9/10 → +2.2
    assert s[1].score > 0 > s[0].score and abs(s[0].score - math.log(2.5 / 8.5)) < 1e-9
    assert no_lp.calls[0]["json_schema"]["properties"]["score"]["maximum"] == 10
    bad = LLMReranker(backend=KeywordLLM(reply="I like turtles", logprobs=False))
    s = bad.rerank(_query("castle"), [_cand(0, "dog 0.5"), _cand(1, "castle 0.5")])
    assert all("not judged: malformed model output" in x.reason for x in s) and len(bad.last_stats["errors"]) == 2
    lw = LLMReranker(backend=KeywordLLM(reply='{"ranking": [3, 1, 7]}'), mode="listwise")
    s = lw.rerank(_query("castle"), [_cand(i, "x 0.1") for i in range(3)])
    assert s[2].score > s[0].score > s[1].score and "left out" in s[1].reason
