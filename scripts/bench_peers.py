#!/usr/bin/env python3
"""The peers a user would pick instead of this pipeline's gold stage, on a model folder and texts, each as its
documentation shows it and at its best settings (scripts/bench-peers.sh runs them beside ours):

  hf-pipeline   Hugging Face transformers' pipeline("text-classification") on Optimum's
                ORTModelForSequenceClassification (ONNX Runtime): as documented (a list of texts, the
                pipeline's default batch_size 1), batch_size=16, and batch_size=16 on texts sorted by length.
                Runs in .cache/venv with Optimum's overlay (PYTHONPATH=.cache/optimum-export).
  beam-python   Apache Beam Python's RunInference with its ONNX model handler (OnnxModelHandlerNumpy), in
                Beam's own example's form (texts tokenized one by one, max_batch_size 1: the handler stacks
                arrays, so unequal lengths cannot share a batch), and batched: 16 texts sorted by length,
                padded per batch by an inference_fn. The default runner (in process). Our model folders take
                attention_mask as well as input_ids, which the handler's default inference_fn does not pass:
                both forms pass both. Runs in .cache/beam-python.

Usage: bench_peers.py hf-pipeline|beam-python MODEL_DIR TEXTS_JSON
Prints one JSON line per form: {"peer", "form", "texts", "seconds", "texts_per_s"}; every form is warmed up
on the first 16 texts, and its clock covers tokenizing and inference of all texts.
"""
import json
import os
import sys
import time


def emit(peer, form, n, seconds):
    print(json.dumps({"peer": peer, "form": form, "texts": n, "seconds": round(seconds, 3), "texts_per_s": round(n / seconds, 1)}), flush=True)


def hf_pipeline(model_dir, texts):
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = ORTModelForSequenceClassification.from_pretrained(model_dir, subfolder="onnx", file_name="model.onnx")
    clf = pipeline("text-classification", model=model, tokenizer=tok)
    by_length = sorted(texts, key=lambda t: len(tok(t)["input_ids"]))
    for form, data, kw in (("documented", texts, {}), ("batch 16", texts, {"batch_size": 16}),
                           ("batch 16, sorted by length", by_length, {"batch_size": 16})):
        clf(data[:16], **kw)
        t0 = time.perf_counter()
        out = clf(data, **kw)
        emit("hf-pipeline", form, len(out), time.perf_counter() - t0)


def beam_python(model_dir, texts):
    import apache_beam as beam
    import numpy as np
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.ml.inference.onnx_inference import OnnxModelHandlerNumpy
    from tokenizers import Tokenizer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_ceiling import pad_batch

    model_uri = os.path.join(model_dir, "onnx", "model.onnx")
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    pad = tokenizer.token_to_id("[PAD]")
    pad = tokenizer.token_to_id("<pad>") if pad is None else pad

    def padded_inference(session, batch, inference_args=None):
        ids, mask = pad_batch(batch, pad)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # logits, as the default fn returns

    class OneByOne(OnnxModelHandlerNumpy):  # Beam's example: batches of one
        def batch_elements_kwargs(self):
            return {"max_batch_size": 1}

    class Batched(OnnxModelHandlerNumpy):
        def batch_elements_kwargs(self):
            return {"min_batch_size": 16, "max_batch_size": 16}

    def tokenize(text):
        return text, np.array(tokenizer.encode(text).ids, dtype=np.int64)

    by_length = sorted(texts, key=lambda t: len(tokenizer.encode(t).ids))
    for form, handler, data in (("example (batch 1)", OneByOne(model_uri, inference_fn=padded_inference), texts),
                                ("batch 16, sorted by length", Batched(model_uri, inference_fn=padded_inference), by_length)):
        def run(items):
            with beam.Pipeline() as p:
                (p | beam.Create(items) | beam.Map(tokenize) | RunInference(KeyedModelHandler(handler))
                 | beam.Map(lambda kv: int(np.argmax(kv[1].inference))))
        run(data[:16])
        t0 = time.perf_counter()
        run(data)
        emit("beam-python", form, len(data), time.perf_counter() - t0)


def main():
    peer, model_dir, texts_file = sys.argv[1:4]
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    {"hf-pipeline": hf_pipeline, "beam-python": beam_python}[peer](model_dir, texts)


if __name__ == "__main__":
    main()
