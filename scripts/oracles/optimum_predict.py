#!/usr/bin/env python3
"""The Python reference for an Optimum export folder, for inference/optimum_test.go: transformers' own
tokenizer and ONNX Runtime on the folder's model.onnx, as a user would run it in Python.

Usage:
  optimum_predict.py DIR TEXTS_JSON [TORCH_DIR]
  optimum_predict.py --all ROOT TEXTS_JSON NAME...
      the same for each ROOT/NAME/export (torch: ROOT/NAME/src) as optimum_export.py lays them out, in one
      process (importing torch and transformers once), printing {NAME: result}

DIR is the folder Optimum wrote (config.json, tokenizer files, model.onnx at the top or under onnx/).
Texts are tokenized with AutoTokenizer.from_pretrained(DIR), truncated to its model_max_length (special
tokens kept), padded per batch of 16 on the right, and run through onnxruntime. Prints JSON: "ids" (each
text's token ids, unpadded), "logits", "labels" (config.json's id2label of the arg max), "scores" (100 x the
softmax probability of that label), "max_length", "versions", and, when TORCH_DIR (the save_pretrained
folder the export came from) is given, "torch_max_abs_diff": the largest |logit| difference between the
transformers model itself and the ONNX export on the same batches, so a Go-vs-Python match is also a match
with the model as trained.

Runs in .cache/venv as it is (transformers 5.24, tokenizers 0.23.3, onnxruntime 1.30.0), not with the
exporter's overlay: the folder must read the same in a newer transformers than the one that wrote it.
"""

import importlib.metadata as md
import json
import os
import sys

import numpy as np

BATCH = 16


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    if argv[1] == "--all":
        root, texts_file, names = argv[2], argv[3], argv[4:]
        texts = load(texts_file)
        out = {n: predict(os.path.join(root, n, "export"), texts, os.path.join(root, n, "src")) for n in names}
    else:
        out = predict(argv[1], load(argv[2]), argv[3] if len(argv) > 3 else None)
    json.dump(out, sys.stdout, separators=(",", ":"))


def load(texts_file):
    with open(texts_file, encoding="utf-8") as f:
        return json.load(f)


def predict(folder, texts, torch_dir):
    import onnxruntime as ort
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    if getattr(tok, "demojizer", None) is not None:
        tok.demojizer = None  # BERTweet: keep emoji as they are, as transformers does without the emoji package
    max_length = int(tok.model_max_length)
    model_file = next((p for p in (os.path.join(folder, "onnx", "model.onnx"), os.path.join(folder, "model.onnx"))
                       if os.path.exists(p)), None)
    if model_file is None:
        raise SystemExit(f"optimum_predict.py: no model.onnx or onnx/model.onnx in {folder}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_file, so, providers=["CPUExecutionProvider"])
    feeds = [i.name for i in sess.get_inputs()]
    model = None
    if torch_dir:
        import torch
        from transformers import AutoModelForSequenceClassification

        torch.set_num_threads(1)
        model = AutoModelForSequenceClassification.from_pretrained(torch_dir).eval()
    ids, logits, torch_diff = [], [], 0.0
    for start in range(0, len(texts), BATCH):
        chunk = texts[start:start + BATCH]
        enc = tok(chunk, truncation=True, max_length=max_length, padding="longest", return_tensors="np")
        for row, mask in zip(enc["input_ids"], enc["attention_mask"]):
            ids.append([int(x) for x, m in zip(row, mask) if m])
        out = sess.run(["logits"], {k: enc[k].astype(np.int64) for k in feeds})[0]
        logits += out.tolist()
        if model is not None:
            with torch.no_grad():
                ref = model(**{k: torch.from_numpy(enc[k].astype(np.int64)) for k in feeds}).logits.numpy()
            torch_diff = max(torch_diff, float(np.abs(ref - out).max()))
    arr = np.asarray(logits, dtype=np.float64)
    probs = np.exp(arr - arr.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    result = {
        "max_length": max_length,
        "inputs": feeds,
        "tokenizer": type(tok).__name__,
        "ids": ids,
        "logits": logits,
        "labels": [cfg.id2label[int(b)] for b in best],
        "scores": [float(100 * probs[i, b]) for i, b in enumerate(best)],
        "versions": {p: md.version(p) for p in ("transformers", "tokenizers", "onnxruntime", "torch", "numpy")},
    }
    if model is not None:
        result["torch_max_abs_diff"] = torch_diff
    return result


if __name__ == "__main__":
    main(sys.argv)
