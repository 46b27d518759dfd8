#!/usr/bin/python3
"""Train the small demo sentiment classifier and export it as a Hugging Face
style ONNX folder (config.json, tokenizer.json, tokenizer_config.json,
onnx/model.onnx, README.md).

No pretrained weights can be downloaded where this project is built, so the
demo model is a tiny BERT-style encoder trained from scratch on tweets from
scripts/gentweets. The Go pipeline loads it exactly as it loads a real
Hugging Face export. Run through scripts/train-demo-model.sh.

Needs Debian's python3-torch (CPU). Deterministic for a seed.
"""
import argparse
import collections
import csv
import html
import json
import math
import os
import random
import re
import sys
import unicodedata

import torch
from torch import nn

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["NEG", "NEU", "POS"]
INTENDED = {"negative": 0, "neutral": 1, "positive": 2}

# --- text preparation: what silver's cleaned_text looks like -----------------
MENTION = re.compile(r"(?<![A-Za-z0-9_!#$%&*@])[@＠][A-Za-z0-9_]{1,20}")


def clean(text):
    text = html.unescape(text)
    text = MENTION.sub(" ", text)
    return " ".join(text.split())


# --- a BERT tokenizer, the same rules tokenizer.json declares ----------------
def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def normalize(text):
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r":
            out.append(" ")
        elif ch == "\0" or ch == "\ufffd" or cat.startswith("C"):
            continue
        elif ch.isspace():
            out.append(" ")
        elif is_cjk(ord(ch)):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text.lower()


def pre_tokenize(text):
    words, cur = [], []
    for ch in text:
        if ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        elif is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return [vocab["[UNK]"]]
    ids, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = vocab[piece]
                break
            end -= 1
        if found is None:
            return [vocab["[UNK]"]]
        ids.append(found)
        start = end
    return ids


def encode(text, vocab, max_len):
    ids = []
    for w in pre_tokenize(normalize(text)):
        ids.extend(wordpiece(w, vocab))
    ids = ids[: max_len - 2]
    return [vocab["[CLS]"]] + ids + [vocab["[SEP]"]]


def build_vocab(texts, size):
    words = collections.Counter()
    chars = set()
    for t in texts:
        for w in pre_tokenize(normalize(t)):
            words[w] += 1
            chars.update(w)
    vocab = list(SPECIALS)
    for c in sorted(chars):
        vocab.append(c)
    for c in sorted(chars):
        vocab.append("##" + c)
    for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= size:
            break
        if n >= 2 and w not in vocab:
            vocab.append(w)
    seen, out = set(), []
    for v in vocab:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return {tok: i for i, tok in enumerate(out)}


# --- the model: a small BERT-style encoder, written out so it exports cleanly -
class Layer(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.ln2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        b, s, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = self.heads

        def split(t):
            return t.reshape(b, s, h, d // h).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.ln1(x + self.drop(self.out(y)))
        return self.ln2(x + self.drop(self.ff(x)))


class Classifier(nn.Module):
    def __init__(self, vocab_size, d, layers, heads, ff, max_pos, labels, dropout=0.1):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d, padding_idx=0)
        self.pos = nn.Embedding(max_pos, d)
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList([Layer(d, heads, ff, dropout) for _ in range(layers)])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d, labels)

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        pos = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.tok(input_ids) + self.pos(pos))
        mask = attention_mask.to(x.dtype)
        bias = (1.0 - mask)[:, None, None, :] * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(self.drop(pooled))


def batches(examples, size, shuffle, rng):
    idx = list(range(len(examples)))
    if shuffle:
        rng.shuffle(idx)
    for i in range(0, len(idx), size):
        chunk = [examples[j] for j in idx[i : i + size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for r, (x, _) in enumerate(chunk):
            ids[r, : len(x)] = torch.tensor(x)
            mask[r, : len(x)] = 1
        yield ids, mask, torch.tensor([y for _, y in chunk])


def macro_f1(pred, gold, n):
    f1s = []
    for c in range(n):
        tp = sum(1 for p, g in zip(pred, gold) if p == c and g == c)
        fp = sum(1 for p, g in zip(pred, gold) if p == c and g != c)
        fn = sum(1 for p, g in zip(pred, gold) if p != c and g == c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / n


def read_truth(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(clean(r["text"]), INTENDED[r["intended_sentiment"]]) for r in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="gentweets --truth CSV to train on")
    ap.add_argument("--heldout", required=True, help="gentweets --truth CSV from another seed")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--max-len", type=int, default=128)
    args = ap.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = random.Random(args.seed)

    train_rows, held_rows = read_truth(args.train), read_truth(args.heldout)
    vocab = build_vocab([t for t, _ in train_rows], args.vocab)
    train = [(encode(t, vocab, args.max_len), y) for t, y in train_rows]
    held = [(encode(t, vocab, args.max_len), y) for t, y in held_rows]

    cfg = dict(d=64, layers=2, heads=4, ff=128)
    model = Classifier(len(vocab), cfg["d"], cfg["layers"], cfg["heads"], cfg["ff"], args.max_len, len(LABELS))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    for epoch in range(args.epochs):
        model.train()
        total, n = 0.0, 0
        for ids, mask, y in batches(train, 64, True, rng):
            loss = nn.functional.cross_entropy(model(ids, mask), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
        print(f"epoch {epoch + 1}: loss {total / n:.4f}", file=sys.stderr)

    model.eval()
    pred = []
    with torch.no_grad():
        for ids, mask, _ in batches(held, 256, False, rng):
            pred.extend(model(ids, mask).argmax(-1).tolist())
    gold = [y for _, y in held]
    acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    f1 = macro_f1(pred, gold, len(LABELS))
    print(f"held-out: accuracy {acc:.4f}, macro F1 {f1:.4f} on {len(gold)} tweets", file=sys.stderr)

    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    ids = torch.tensor([encode("what a great day", vocab, args.max_len)])
    torch.onnx.export(
        model, (ids, torch.ones_like(ids)), os.path.join(args.out, "onnx", "model.onnx"),
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "logits": {0: "batch"}},
        opset_version=14, do_constant_folding=True,
    )
    write_json(os.path.join(args.out, "config.json"), {
        "architectures": ["TweetSentimentDemo"], "model_type": "bert",
        "id2label": {str(i): l for i, l in enumerate(LABELS)}, "label2id": {l: i for i, l in enumerate(LABELS)},
        "hidden_size": cfg["d"], "num_hidden_layers": cfg["layers"], "num_attention_heads": cfg["heads"],
        "intermediate_size": cfg["ff"], "max_position_embeddings": args.max_len, "vocab_size": len(vocab),
        "type_vocab_size": 1, "pad_token_id": 0,
    })
    write_json(os.path.join(args.out, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": args.max_len,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
    })
    write_json(os.path.join(args.out, "tokenizer.json"), tokenizer_json(vocab))
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"heldout_accuracy": round(acc, 4), "heldout_macro_f1": round(f1, 4), "heldout_tweets": len(gold),
                   "train_tweets": len(train), "epochs": args.epochs, "seed": args.seed, "vocab_size": len(vocab),
                   "torch": torch.__version__}, f, indent=2)
        f.write("\n")


def tokenizer_json(vocab):
    special = {t: vocab[t] for t in SPECIALS}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t, i in special.items()],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                                    {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                           "special_tokens": {t: {"id": t, "ids": [special[t]], "tokens": [t]} for t in ["[CLS]", "[SEP]"]}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
