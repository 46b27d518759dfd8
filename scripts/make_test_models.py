#!/usr/bin/python3
"""Build the tiny model folders the tests use (random weights, a few KB):

  testdata/models/tiny-roberta-bpe   RoBERTa-style: byte-level BPE tokenizer learned on generated
                                      tweets, labels LABEL_0..2, inputs input_ids + attention_mask
  testdata/models/tiny-bert-binary   BERT-style: the demo model's WordPiece tokenizer, labels
                                      NEGATIVE/POSITIVE, inputs input_ids + attention_mask + token_type_ids,
                                      32-token limit

Usage: scripts/make_test_models.py CORPUS_CSV (a gentweets --truth file). Needs python3-torch.
"""
import collections
import csv
import json
import os
import shutil
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from train_demo_model import Classifier, clean, write_json  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def byte_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_bpe(texts, merges_wanted):
    b2u = byte_to_unicode()
    words = collections.Counter()
    for t in texts:
        for i, w in enumerate(t.split(" ")):
            w = (" " + w) if i > 0 else w
            if w:
                words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    merges = []
    for _ in range(merges_wanted):
        pairs = collections.Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if n < 2:
            break
        merges.append((a, b))
        merged = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab.setdefault(b2u[b], len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<mask>"] = len(vocab)
    return vocab, merges


def roberta_tokenizer_json(vocab, merges):
    def added(tok, lstrip=False):
        return {"id": vocab[tok], "content": tok, "single_word": False, "lstrip": lstrip, "rstrip": False,
                "normalized": tok == "<mask>", "special": True}

    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added("<s>"), added("<pad>"), added("</s>"), added("<unk>"), added("<mask>", True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
                           "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in merges]},
    }


class WithTypes(nn.Module):
    """Adds a token_type_ids input, as BERT exports have."""

    def __init__(self, inner, d):
        super().__init__()
        self.inner = inner
        self.types = nn.Embedding(2, d)

    def forward(self, input_ids, attention_mask, token_type_ids):
        logits = self.inner(input_ids, attention_mask)
        return logits + self.types(token_type_ids).mean(1)[:, : logits.shape[1]]


def export(model, folder, inputs, names, max_pos):
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    model.eval()
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    # The TorchScript exporter (dynamo=False): torch 2.9+ defaults to the
    # dynamo one, which needs onnxscript; Debian's older torch has no flag.
    kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(model, inputs, os.path.join(folder, "onnx", "model.onnx"), input_names=names,
                      output_names=["logits"], dynamic_axes=axes, opset_version=14, **kw)


def main():
    torch.manual_seed(7)
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        texts = [clean(r["text"]) for r in csv.DictReader(f)]

    out = os.path.join(ROOT, "testdata", "models", "tiny-roberta-bpe")
    vocab, merges = learn_bpe(texts, 300)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "tokenizer.json"), roberta_tokenizer_json(vocab, merges))
    model = Classifier(len(vocab), 8, 1, 2, 16, 66, 3)
    ids = torch.tensor([[0, 100, 200, 2]])
    export(model, out, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], 66)
    write_json(os.path.join(out, "config.json"), {
        "model_type": "roberta", "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
        "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}, "max_position_embeddings": 66,
        "vocab_size": len(vocab), "pad_token_id": 1})
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "RobertaTokenizer", "model_max_length": 64, "bos_token": "<s>", "eos_token": "</s>",
        "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"})

    demo = os.path.join(ROOT, "testdata", "models", "tweet-sentiment-demo")
    out = os.path.join(ROOT, "testdata", "models", "tiny-bert-binary")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(demo, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    wp = json.load(open(os.path.join(demo, "tokenizer.json")))["model"]["vocab"]
    model = WithTypes(Classifier(len(wp), 8, 1, 2, 16, 32, 2), 8)
    ids = torch.tensor([[2, 10, 20, 3]])
    export(model, out, (ids, torch.ones_like(ids), torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"], 32)
    write_json(os.path.join(out, "config.json"), {
        "model_type": "bert", "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
        "max_position_embeddings": 32, "vocab_size": len(wp), "type_vocab_size": 2, "pad_token_id": 0})
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 32})


if __name__ == "__main__":
    main()
