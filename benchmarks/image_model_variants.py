"""fp16 and int8 variants of the EfficientNet-Lite0 image model: speed and how far their outputs move.

    .venv/bin/python benchmarks/image_model_variants.py [--out benchmarks/results/image-model-variants.json]

Variants of the exported ONNX file the encoder uses: fp16 (onnxruntime.transformers' converter,
fp32 inputs/outputs kept) and static int8 (QDQ, per-channel int8 weights, uint8 activations, the
convolutions only) calibrated on 120 held-out images (60 photos, 60 Tux Paint stamps) with
MinMax, Percentile (99.99) and Entropy ranges. For each: CPU ms per image on one intra-op thread
(batch 32, load-independent enough to compare), and on 96 other images their agreement with
fp32: top-1 class, cosine of the ConSE vector (what lands in the index) and of the pooled
features (what the binding head reads). Variant files go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from speed_common import load_avg, machine, photo_set


def session(path: str, threads: int = 1) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def outputs(path: str, X: np.ndarray) -> tuple[list[np.ndarray], float]:
    s = session(path)
    outs = [s.run(None, {"pixels": X[i : i + 32]}) for i in range(0, len(X), 32)]
    cpu = []
    for _ in range(3):
        c = time.process_time()
        s.run(None, {"pixels": X[:32]})
        cpu.append((time.process_time() - c) / 32 * 1000)
    return [np.concatenate([o[j] for o in outs]) for j in range(3)], float(np.median(cpu))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps
    from xmodal.encode.image_conse import ConSEImageEncoder, _softmax, export_onnx, letterbox
    from xmodal.media import load

    fp32 = str(export_onnx("lite0"))
    photos = photo_set(400)
    stamps = [s.image for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default")) if s.category != "symbols"]
    pixels = lambda ps: [letterbox(load(p).images[0], 224)[0] for p in ps]  # noqa: E731
    calib = pixels(photos[::5][:60] + stamps[::7][:60])
    X = np.stack(pixels(photos[2::5][:48] + stamps[3::7][:48]))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"pixels": np.stack(calib[i : i + 8])} for i in range(0, len(calib), 8)])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    enc = ConSEImageEncoder(ocr=False)
    enc._ensure()
    results: dict[str, Any] = {"machine": machine(), "variants": {}}
    ref, ref_cpu = outputs(fp32, X)
    vref, fref = enc._conse(_softmax(ref[0], 1.0)), ref[1].mean((2, 3))
    results["variants"]["fp32"] = {"cpu_ms_per_img_1_thread": round(ref_cpu, 2)}
    print(f"fp32            {ref_cpu:5.2f} ms/img (1 thread)", flush=True)
    with tempfile.TemporaryDirectory() as d:
        files = {}
        from onnxruntime.transformers.float16 import convert_float_to_float16
        import onnx

        files["fp16"] = f"{d}/fp16.onnx"
        onnx.save(convert_float_to_float16(onnx.load(fp32), keep_io_types=True), files["fp16"])
        pre = f"{d}/pre.onnx"
        quant_pre_process(fp32, pre)
        for name, method, extra in (("int8-minmax", CalibrationMethod.MinMax, {}),
                                    ("int8-percentile", CalibrationMethod.Percentile, {"CalibPercentile": 99.99}),
                                    ("int8-entropy", CalibrationMethod.Entropy, {})):
            files[name] = f"{d}/{name}.onnx"
            quantize_static(pre, files[name], Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Conv"],
                            calibrate_method=method, extra_options=extra)
        for name, path in files.items():
            out, cpu = outputs(path, X)
            v, f = enc._conse(_softmax(out[0], 1.0)), out[1].mean((2, 3))
            cos_v = (v * vref).sum(1)
            cos_f = (f * fref).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(fref, axis=1)
            r = {"cpu_ms_per_img_1_thread": round(cpu, 2), "speedup_vs_fp32": round(ref_cpu / cpu, 2),
                 "top1_agreement": round(float((out[0].argmax(1) == ref[0].argmax(1)).mean()), 3),
                 "conse_cosine_mean": round(float(cos_v.mean()), 4), "conse_cosine_min": round(float(cos_v.min()), 3),
                 "pooled_feature_cosine_mean": round(float(cos_f.mean()), 4)}
            results["variants"][name] = r
            print(f"{name:15} {cpu:5.2f} ms/img ({r['speedup_vs_fp32']}×)  top-1 agreement {r['top1_agreement']:.3f}  "
                  f"ConSE cosine {r['conse_cosine_mean']:.4f} (min {r['conse_cosine_min']:.3f})  features {r['pooled_feature_cosine_mean']:.4f}", flush=True)
    results["machine"]["load_avg_end"] = load_avg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
