#!/usr/bin/python3
"""Export random-weight models of real sizes for benchmarks, in the Hugging
Face folder layout (not committed; rebuilt by scripts/make-bench-models.sh):

  OUT/distilbert-size  6 layers, hidden 768, 12 heads, FFN 3072, WordPiece (the demo model's vocabulary)
  OUT/roberta-size    12 layers, hidden 768, 12 heads, FFN 3072, byte-level BPE learned on generated tweets

The weights are random: only the cost is real. Needs python3-torch.
Usage: make_bench_models.py CORPUS_CSV OUT_DIR
"""
import csv
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_test_models import export, learn_bpe, roberta_tokenizer_json  # noqa: E402
from train_demo_model import Classifier, clean, write_json  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(11)
    demo = os.path.join(ROOT, "testdata", "models", "tweet-sentiment-demo")
    labels = {"id2label": {"0": "NEG", "1": "NEU", "2": "POS"}, "label2id": {"NEG": 0, "NEU": 1, "POS": 2}}

    d = os.path.join(out, "distilbert-size")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(demo, "tokenizer.json"), d)
    vocab = json.load(open(os.path.join(demo, "tokenizer.json")))["model"]["vocab"]
    m = Classifier(len(vocab), 768, 6, 12, 3072, 512, 3).eval()
    ids = torch.tensor([[2, 10, 20, 3]])
    export(m, d, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], 512)
    write_json(os.path.join(d, "config.json"), dict(model_type="bert", max_position_embeddings=512, **labels))
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512, "unk_token": "[UNK]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"})

    r = os.path.join(out, "roberta-size")
    os.makedirs(r, exist_ok=True)
    with open(corpus, newline="", encoding="utf-8") as f:
        texts = [clean(row["text"]) for row in csv.DictReader(f)]
    bvocab, merges = learn_bpe(texts, 2000)
    write_json(os.path.join(r, "tokenizer.json"), roberta_tokenizer_json(bvocab, merges))
    m = Classifier(len(bvocab), 768, 12, 12, 3072, 514, 3).eval()
    ids = torch.tensor([[0, 100, 200, 2]])
    export(m, r, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], 514)
    write_json(os.path.join(r, "config.json"), dict(model_type="roberta", max_position_embeddings=514, **labels))
    write_json(os.path.join(r, "tokenizer_config.json"), {
        "tokenizer_class": "RobertaTokenizer", "model_max_length": 512, "bos_token": "<s>", "eos_token": "</s>",
        "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"})


if __name__ == "__main__":
    main()
