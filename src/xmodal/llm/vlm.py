"""A transformers vision-language model (LLaVA, Idefics3, Qwen2-VL, … anything that loads with
`AutoModelForImageTextToText` + `AutoProcessor` and has a chat template) that sees the images
and video frames themselves. Loaded from a local folder or a cached hub id; never downloads.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .base import ChatBackend, LLMError, LLMUnavailable, Message

_HINT = "give a local folder of a transformers image-text-to-text model (AutoModelForImageTextToText)"


class TransformersVLMBackend(ChatBackend):
    """Greedy generation by default; `yes_no` reads the next-token logits of "yes" and "no"."""

    name = "transformers-vlm"
    supports_images = True
    supports_json_schema = False  # JSON is asked for in the prompt and parsed robustly

    def __init__(self, model: str, device: str = "cpu", threads: int | None = 2, max_images: int = 8, seed: int = 42) -> None:
        self.model_name = str(model)
        self.device = device
        self.threads = threads
        self.max_images = int(max_images)
        self.seed = int(seed)
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "device": self.device}

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                try:
                    import torch
                    from transformers import AutoModelForImageTextToText, AutoProcessor
                except ImportError as e:
                    raise LLMUnavailable(f"transformers-vlm needs torch and transformers: {e}") from e
                if self.threads:
                    torch.set_num_threads(int(self.threads))
                local = Path(self.model_name).expanduser()
                src = str(local) if local.exists() else self.model_name
                offline = local.exists() or os.environ.get("HF_HUB_OFFLINE") == "1"
                try:
                    self._processor = AutoProcessor.from_pretrained(src, local_files_only=True)
                    self._model = AutoModelForImageTextToText.from_pretrained(src, local_files_only=True).to(self.device).eval()
                except (OSError, ValueError) as e:
                    where = "folder" if offline else "model (not in the local cache)"
                    raise LLMUnavailable(f"{self.model_name}: cannot load the vision-language {where}: {e}; {_HINT}") from e
        return self._model, self._processor

    def _inputs(self, messages: Sequence[Message]) -> Any:
        from PIL import Image

        _, proc = self._load()
        conv, images = [], []
        for m in messages:
            content = m.get("content", "")
            if isinstance(content, str):
                conv.append({"role": m["role"], "content": [{"type": "text", "text": content}]})
                continue
            parts = []
            for p in content:
                if p.get("type") == "image" and len(images) < self.max_images:
                    img = p["image"]
                    images.append((Image.open(img) if isinstance(img, (str, Path)) else img).convert("RGB"))
                    parts.append({"type": "image"})
                elif p.get("type") == "text":
                    parts.append({"type": "text", "text": p["text"]})
            conv.append({"role": m["role"], "content": parts})
        text = proc.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        return proc(text=text, images=images or None, return_tensors="pt").to(self.device)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        import torch

        model, proc = self._load()
        inputs = self._inputs(messages)
        torch.manual_seed(self.seed)
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_tokens), "max_time": float(timeout_s)}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature))
        else:
            kwargs.update(do_sample=False)
        try:
            with torch.inference_mode():
                out = model.generate(**inputs, **kwargs)
        except Exception as e:
            raise LLMError(f"{self.model_name}: generation failed: {type(e).__name__}: {e}") from e
        new = out[0, inputs["input_ids"].shape[1]:]
        return proc.tokenizer.decode(new, skip_special_tokens=True).strip()

    def _answer_ids(self, words: Sequence[str]) -> list[int]:
        tok = self._load()[1].tokenizer
        ids = set()
        for w in words:
            for form in (w, w.capitalize(), " " + w, " " + w.capitalize()):
                enc = tok.encode(form, add_special_tokens=False)
                if len(enc) == 1 and enc[0] != tok.unk_token_id:
                    ids.add(enc[0])
        return sorted(ids)

    def yes_no(self, messages: Sequence[Message], *, timeout_s: float = 30.0) -> float | None:
        import torch

        model, _ = self._load()
        yes, no = self._answer_ids(["yes"]), self._answer_ids(["no"])
        if not yes or not no:
            return None
        inputs = self._inputs(messages)
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits = model(**inputs).logits[0, -1].float()
        if time.perf_counter() - t0 > timeout_s:
            from .base import LLMTimeout

            raise LLMTimeout(f"{self.model_name}: one forward pass took longer than {timeout_s:g} s")
        logp = torch.log_softmax(logits, -1)
        return float(torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0))
