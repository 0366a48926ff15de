"""Run by scripts/check-clean-install.sh with the clean venv's python: generates a small sample of
media (numpy + Pillow only, deterministic), indexes it with the installed `xmodal` console script
and checks that cross-modal searches find the right items.

    python scripts/clean_install_check.py WORK_DIR XMODAL_EXECUTABLE
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SR = 16000


def write_wav(path: Path, y: np.ndarray) -> None:
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def write_pdf(path: Path, lines: list[str]) -> None:
    """A one-page PDF with Helvetica text, written by hand (no PDF library in the core install)."""
    text = " ".join(f"({line}) Tj 0 -32 Td" for line in lines)
    content = f"BT /F1 24 Tf 72 700 Td {text} ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)


def make_sample(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(2 * SR) / SR
    rng = np.random.default_rng(0)
    # a siren: a tone sweeping 400-1000 Hz twice a second
    write_wav(root / "siren.wav", 0.5 * np.sin(2 * np.pi * np.cumsum(700 + 300 * np.sin(2 * np.pi * 0.5 * t)) / SR))
    # a drum: four low thumps with a noisy attack
    drum = np.zeros_like(t)
    n = int(0.25 * SR)
    env = np.exp(-np.arange(n) / (0.04 * SR))
    for start in (0.0, 0.5, 1.0, 1.5):
        k = int(start * SR)
        drum[k : k + n] += env * (0.6 * np.sin(2 * np.pi * 80 * np.arange(n) / SR) + 0.3 * rng.standard_normal(n))
    write_wav(root / "drum.wav", drum)

    def picture(name: str, draw) -> None:
        im = Image.new("RGB", (320, 320), "white")
        draw(ImageDraw.Draw(im))
        im.save(root / name)

    picture("grid.png", lambda d: [d.rectangle((x * 40, y * 40, x * 40 + 39, y * 40 + 39), fill="black")
                                   for x in range(8) for y in range(8) if (x + y) % 2])
    picture("ball.png", lambda d: d.ellipse((60, 60, 260, 260), fill=(245, 140, 20)))
    # a scanned-looking invoice: the classifier sees a text-bearing picture, so OCR text is fused in
    invoice = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(invoice)
    for i, line in enumerate(["INVOICE No. 4711", "Bill to: Anna Smith", "Garden chairs", "Total: 190 EUR"]):
        draw.text((30, 30 + i * 50 + (20 if i else 0)), line, fill="black", font=ImageFont.load_default(size=44 if i == 0 else 28))
    invoice.save(root / "invoice.jpg")
    (root / "puzzle.txt").write_text("A crossword puzzle: a grid of black and white squares to fill with words.\n")
    (root / "band.md").write_text("# Rehearsal\n\nThe drummer keeps the beat on the drums all evening.\n")
    (root / "kitchen.txt").write_text("Recipe: slice the onions and fry them slowly in butter.\n")
    write_pdf(root / "manual.pdf", ["Garden tools manual", "Sharpen the lawn mower blades", "every spring."])


def run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAILED ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return res.stdout


def main() -> None:
    work, xmodal = Path(sys.argv[1]), sys.argv[2]
    sample, index = work / "sample", work / "index"
    make_sample(sample)
    t0 = time.time()
    print("\n".join(run([xmodal, "index", str(sample), "--index", str(index)]).strip().splitlines()[-3:]))
    print(f"indexed {len(list(sample.iterdir()))} files in {time.time() - t0:.1f} s (first run: model loading and the EfficientNet ONNX export included)")

    def search(label: str, args: list[str], want: str) -> None:
        hits = json.loads(run([xmodal, "search", *args, "--index", str(index), "--json", "-k", "3"]))
        names = [Path(h["path"]).name for h in hits]
        shown = ", ".join(f"{n} ({h['score']:.2f})" for n, h in zip(names, hits))
        print(f"{label:>36}: {shown}")
        if not names or names[0] != want:
            sys.exit(f"FAILED: {label}: expected {want} first, got {names}")

    search("text → image 'a crossword puzzle'", ["a crossword puzzle", "-m", "image"], "grid.png")
    search("text → image (OCR) 'garden chairs invoice'", ["an invoice for garden chairs", "-m", "image"], "invoice.jpg")
    search("text → audio 'a drum'", ["a drum", "-m", "audio"], "drum.wav")
    search("text → audio 'a siren whooping'", ["a siren whooping", "-m", "audio"], "siren.wav")
    search("image → text grid.png", ["--file", str(sample / "grid.png"), "-m", "text"], "puzzle.txt")
    search("audio → text drum.wav", ["--file", str(sample / "drum.wav"), "-m", "text"], "band.md")
    search("text → document 'lawn mower'", ["sharpening the lawn mower", "-m", "document"], "manual.pdf")
    # `xmodal search` on an existing index needs no torch (the core stays light)
    blocked = ("import sys\n"
               "class NoTorch:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'torch':\n"
               "            raise ModuleNotFoundError('torch is blocked by the clean-install check', name=name)\n"
               "sys.meta_path.insert(0, NoTorch())\n"
               "from xmodal.cli import main\n"
               f"sys.argv = ['xmodal', 'search', 'a drum', '--index', {str(index)!r}, '--json', '-k', '1']\n"
               "main()\n")
    hit = json.loads(run([sys.executable, "-c", blocked]))
    print(f"{'search with torch blocked':>36}: {Path(hit[0]['path']).name}")
    print("clean install: all searches OK")


if __name__ == "__main__":
    main()
