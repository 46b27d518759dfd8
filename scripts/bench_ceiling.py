#!/usr/bin/env python3
"""The independent inference ceiling for a model folder and texts: ONNX Runtime from Python (PyPI onnxruntime,
the version our Go pipeline loads) on ids from Hugging Face's tokenizers, texts sorted by token length and
padded per batch. Nothing here is our code: it is what our pipeline's gold stage is compared with
(scripts/bench-realistic.sh, which also drives the same ids through the build the pipeline loads:
scripts/ceiling/ceiling.mjs).

Usage:
  bench_ceiling.py MODEL_DIR TEXTS_JSON [--batch 16] [--quantized] [--threads 0] [--sessions 1] [--labels OUT_JSON]
  bench_ceiling.py MODEL_DIR TEXTS_JSON --write-ids IDS_JSON
  bench_ceiling.py MODEL_DIR IDS_JSON --ids [--batch 16] [--quantized] [--threads 0] [--sessions 1]

--write-ids tokenizes once and writes the ids sorted by length ({"pad", "order", "rows"}), so that every
configuration and both harnesses infer exactly the same pre-tokenized batches; --ids reads such a file.
Padded batches are built before the clock starts; each session runs a warm-up pass over every fourth batch;
then the clock runs from the first session.run to the last one's end, the sessions taking batches from one
shared queue (threads: session.run releases the GIL). Prints one JSON line: the configuration, texts, real and
padded tokens, seconds, texts per second. --labels also writes each text's predicted label id (the logits'
argmax), in the order of TEXTS_JSON: how often int8 and fp32 agree is compared from two such files.
"""
import argparse
import json
import os
import threading
import time

import numpy as np
import onnxruntime as ort


def pad_batch(rows, pad):
    """Token id rows padded on the right to the longest: (input_ids, attention_mask), int64."""
    width = max(len(x) for x in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, x in enumerate(rows):
        ids[r, :len(x)] = x
        mask[r, :len(x)] = 1
    return ids, mask


def tokenize(model, texts):
    """Hugging Face tokenizers' ids for texts, sorted by length: {"pad", "order", "rows"}."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=512)
    pad = tok.token_to_id("[PAD]")
    if pad is None:
        pad = tok.token_to_id("<pad>")
    ids = [e.ids for e in tok.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return {"pad": pad, "order": order, "rows": [ids[i] for i in order]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input", help="texts as a JSON list, or with --ids a file --write-ids wrote")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--quantized", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads per session (0: ONNX Runtime's default, all cores)")
    ap.add_argument("--sessions", type=int, default=1, help="sessions running in parallel")
    ap.add_argument("--ids", action="store_true", help="the input is pre-tokenized (--write-ids)")
    ap.add_argument("--write-ids", help="tokenize, write the sorted ids here and stop")
    ap.add_argument("--labels", help="write the predicted label ids here, as a JSON list in the texts' order")
    a = ap.parse_args()
    with open(a.input, encoding="utf-8") as f:
        data = json.load(f)
    tk = data if a.ids else tokenize(a.model, data)
    if a.write_ids:
        with open(a.write_ids, "w") as f:
            json.dump(tk, f)
        return
    rows, pad = tk["rows"], tk["pad"]
    batches = [pad_batch(rows[i:i + a.batch], pad) for i in range(0, len(rows), a.batch)]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    name = "model_quantized.onnx" if a.quantized else "model.onnx"
    sessions = [ort.InferenceSession(os.path.join(a.model, "onnx", name), opts, providers=["CPUExecutionProvider"])
                for _ in range(a.sessions)]
    names = {i.name for i in sessions[0].get_inputs()}

    def feed(inp, mask):
        f = {"input_ids": inp, "attention_mask": mask}
        if "token_type_ids" in names:
            f["token_type_ids"] = np.zeros_like(inp)
        return f

    feeds = [feed(inp, mask) for inp, mask in batches]
    argmax = [None] * len(feeds)

    def warm(sess):
        for fd in feeds[::4]:
            sess.run(None, fd)

    next_batch, lock = [0], threading.Lock()

    def work(sess):
        while True:
            with lock:
                k = next_batch[0]
                next_batch[0] += 1
            if k >= len(feeds):
                return
            argmax[k] = sess.run(None, feeds[k])[0].argmax(axis=-1)

    def parallel(fn):
        ts = [threading.Thread(target=fn, args=(s,)) for s in sessions]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    parallel(warm)
    t0 = time.perf_counter()
    parallel(work)
    spent = time.perf_counter() - t0
    if a.labels:
        flat = [int(k) for b in argmax for k in b]
        labels = [0] * len(flat)
        for pos, i in enumerate(tk["order"]):
            labels[i] = flat[pos]
        with open(a.labels, "w") as f:
            json.dump(labels, f)
    print(json.dumps({"harness": "python", "onnxruntime": ort.__version__, "threads": a.threads, "sessions": a.sessions,
                      "batch": a.batch, "texts": len(rows), "tokens": sum(len(x) for x in rows),
                      "padded_tokens": sum(f["input_ids"].size for f in feeds), "run_s": spent,
                      "texts_per_s": len(rows) / spent}))


if __name__ == "__main__":
    main()
