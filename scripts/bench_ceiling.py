#!/usr/bin/env python3
"""The independent inference ceiling for a model folder and texts: ONNX Runtime from Python (PyPI onnxruntime,
the version our Go pipeline loads) on ids from Hugging Face's tokenizers, texts sorted by token length and
padded per batch, one warm-up pass, and the clock around session.run alone. Nothing here is our code: it is
what our pipeline's gold stage is compared with (scripts/bench-realistic.sh).

Usage: bench_ceiling.py MODEL_DIR TEXTS_JSON [--batch 16] [--quantized] [--threads 0] [--labels OUT_JSON]
Prints one JSON line: texts, real and padded tokens, seconds inside session.run, texts per second. --labels
also writes each text's predicted label id (the logits' argmax), in the order of TEXTS_JSON: how often int8
and fp32 agree is compared from two such files.
"""
import argparse
import json
import os
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def pad_batch(rows, pad):
    """Token id rows padded on the right to the longest: (input_ids, attention_mask), int64."""
    width = max(len(x) for x in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, x in enumerate(rows):
        ids[r, :len(x)] = x
        mask[r, :len(x)] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("texts")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--quantized", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ONNX Runtime's default, all cores)")
    ap.add_argument("--labels", help="write the predicted label ids here, as a JSON list in the texts' order")
    a = ap.parse_args()
    with open(a.texts, encoding="utf-8") as f:
        texts = json.load(f)
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=512)
    pad = tok.token_to_id("[PAD]")
    if pad is None:
        pad = tok.token_to_id("<pad>")
    ids = [e.ids for e in tok.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = [pad_batch([ids[j] for j in order[i:i + a.batch]], pad) for i in range(0, len(order), a.batch)]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    name = "model_quantized.onnx" if a.quantized else "model.onnx"
    sess = ort.InferenceSession(os.path.join(a.model, "onnx", name), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}

    def feed(inp, mask):
        f = {"input_ids": inp, "attention_mask": mask}
        if "token_type_ids" in names:
            f["token_type_ids"] = np.zeros_like(inp)
        return f

    for inp, mask in batches:  # warm-up pass
        sess.run(None, feed(inp, mask))
    spent, argmax = 0.0, []
    for inp, mask in batches:
        fd = feed(inp, mask)
        t0 = time.perf_counter()
        out = sess.run(None, fd)
        spent += time.perf_counter() - t0
        argmax.extend(int(k) for k in out[0].argmax(axis=-1))
    if a.labels:
        labels = [0] * len(texts)
        for pos, i in enumerate(order):
            labels[i] = argmax[pos]
        with open(a.labels, "w") as f:
            json.dump(labels, f)
    print(json.dumps({"texts": len(texts), "tokens": sum(len(x) for x in ids), "padded_tokens": sum(b[0].size for b in batches),
                      "run_s": spent, "texts_per_s": len(texts) / spent, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
