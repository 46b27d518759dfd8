#!/usr/bin/env python3
"""transformers' BertweetTokenizer as the reference for inference's BERTweet loader (inference/bertweet_test.go).

Usage:
  tok_bertweet.py encode MODEL_DIR STRINGS_JSON MAXLENS BATCH MODE
      Loads MODEL_DIR's vocab.txt + bpe.codes with transformers' BertweetTokenizer (no network: local files)
      and prints {"full", "truncated", "batches"} as tok_real.py does. MODE: plain; norm (normalization=True);
      lower (the text lower-cased with str.lower first: what transformers 4 did for do_lower_case=True,
      which transformers 5 ignores). The emoji package is not used even where it is installed (demojizer
      off): the Go side does not demojize, and says so.
  tok_bertweet.py learn CORPUS_JSON MERGES OUT_DIR
      Learns a small fastBPE-format vocabulary (vocab.txt "token count", bpe.codes "a b count", "@@"
      continuation, "</w>" word end) from a JSON list of texts, on both the raw and the normalised
      (@USER, HTTPURL) spelling. It made inference/testdata/bertweet: no real BERTweet files can be
      downloaded here.
"""

import collections
import json
import sys


def bertweet(model_dir, normalization):
    from transformers import BertweetTokenizer

    tok = BertweetTokenizer(
        vocab_file=f"{model_dir}/vocab.txt", merges_file=f"{model_dir}/bpe.codes", normalization=normalization)
    tok.demojizer = None
    return tok


def encode(model_dir, strings_file, maxlens, batch, mode):
    tok = bertweet(model_dir, mode == "norm")
    with open(strings_file, encoding="utf-8") as f:
        texts = json.load(f)
    if mode == "lower":
        texts = [t.lower() for t in texts]
    out = {"full": [tok(t, truncation=False)["input_ids"] for t in texts], "truncated": {}}
    for n in maxlens:
        out["truncated"][str(n)] = [tok(t, truncation=True, max_length=n)["input_ids"] for t in texts]
    ids, masks = [], []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i:i + batch], truncation=True, max_length=maxlens[-1], padding=True)
        ids += enc["input_ids"]
        masks += enc["attention_mask"]
    out["batches"] = {"max_length": maxlens[-1], "ids": ids, "attention_mask": masks}
    json.dump(out, sys.stdout, separators=(",", ":"))


def learn(corpus_file, n_merges, out_dir):
    """Plain BPE (Sennrich et al.; what fastBPE learns): the most frequent adjacent pair is merged, n_merges
    times; ties go to the lexicographically largest pair so the result is reproducible."""
    with open(corpus_file, encoding="utf-8") as f:
        texts = json.load(f)
    norm = bertweet_normaliser()
    words = collections.Counter()
    for t in texts:
        words.update(t.split())
        words.update(norm(t).split())
    vocab = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in words.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 2:
            break
        merges.append((a, b, c))
        new = {}
        for w, cnt in vocab.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + cnt
        vocab = new
    tokens = collections.Counter()
    for w, c in vocab.items():
        for s in w[:-1]:
            tokens[s + "@@"] += c
        tokens[w[-1][:-4]] += c
    with open(f"{out_dir}/bpe.codes", "w", encoding="utf-8") as f:
        f.writelines(f"{a} {b} {c}\n" for a, b, c in merges)
    with open(f"{out_dir}/vocab.txt", "w", encoding="utf-8") as f:
        f.writelines(f"{t} {c}\n" for t, c in sorted(tokens.items(), key=lambda kv: (-kv[1], kv[0])) if t)


def bertweet_normaliser():
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for name in ("vocab.txt", "bpe.codes"):
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write("a 1\n" if name == "vocab.txt" else "a b 1\n")
        tok = bertweet(d, True)
    return tok.normalizeTweet


if __name__ == "__main__":
    if sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4].split(",")], int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1] == "learn":
        learn(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
