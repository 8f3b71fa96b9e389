"""Trains serval-tiny's SentencePiece tokenizer and dumps it for the GGUF
exporter.

The tokenizer is a byte-fallback BPE model, which llama.cpp loads as a
"llama" (SentencePiece) vocabulary: llama.cpp's tokenizer merges adjacent
symbols by score exactly as SentencePiece's BPE encoder does, so text
tokenizes the same in training and in Serval.

Code needs its whitespace back exactly, so nothing is normalised: no Unicode
normalisation, no dummy prefix space, no collapsing of spaces; newlines and
tabs are ordinary characters (pieces such as "\n\t\t" are learnt), runs of
spaces may form whitespace-only pieces, and any character outside the
vocabulary falls back to its UTF-8 bytes (<0x00>..<0xFF>).

The control tokens are Qwen2.5-Coder's spellings, which Serval's template
detection (server/prompt.DetectTemplate) and llama.cpp's FIM and
end-of-generation detection recognise.
"""

import argparse
import json
import os
import random

import sentencepiece as spm

# SentencePiece's trainer drops tabs from its input (it reads "text<TAB>count"
# records), and Go indents with tabs: tabs stand in as U+21E5 while training and
# encoding, and the vocabulary written for the GGUF has the real tab back.
TAB_STANDIN = "\u21e5"

# Newlines and runs of tabs are user-defined symbols: always tokens of their
# own, in SentencePiece and in llama.cpp (which splits text at user-defined
# tokens before merging), so no piece reaches across a line end or an
# indentation: a prompt that ends at a line start or after the indentation
# ends at a token boundary the model has seen in training.
USER_DEFINED = ["\n"] + [TAB_STANDIN * n for n in range(1, 7)]

CONTROL = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>"]


def chunks(path, max_bytes, sample_bytes, seed):
    """Yields pieces of the training files no longer than max_bytes, cut at
    line ends (SentencePiece skips longer sentences), about sample_bytes in
    all."""
    rng = random.Random(seed)
    with open(path) as f:
        records = [json.loads(line) for line in f]
    rng.shuffle(records)
    total = 0
    for rec in records:
        text = rec["text"]
        start = 0
        while start < len(text):
            end = min(len(text), start + max_bytes // 2)
            nl = text.rfind("\n", start, end)
            if end < len(text) and nl > start:
                end = nl + 1
            piece = text[start:end]
            start = end
            if len(piece.encode()) < max_bytes:
                total += len(piece.encode())
                yield piece.replace("\t", TAB_STANDIN)
        if total >= sample_bytes:
            return


def encode(sp, text):
    """Token ids of text, as llama.cpp gives them for the exported vocabulary."""
    return sp.encode(text.replace("\t", TAB_STANDIN))


def decode(sp, ids):
    return sp.decode(ids).replace(TAB_STANDIN, "\t")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True, help="directory with train.jsonl")
    ap.add_argument("--out", required=True, help="output prefix: <out>.model, <out>.vocab.json")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--sample-bytes", type=int, default=6_000_000)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()

    max_len = 4096
    spm.SentencePieceTrainer.train(
        sentence_iterator=chunks(os.path.join(args.corpus, "train.jsonl"), max_len, args.sample_bytes, args.seed),
        model_prefix=args.out,
        model_type="bpe",
        vocab_size=args.vocab_size,
        byte_fallback=True,
        character_coverage=0.9995,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        split_by_unicode_script=False,
        max_sentence_length=max_len,
        max_sentencepiece_length=16,
        control_symbols=CONTROL,
        user_defined_symbols=USER_DEFINED,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1,
        train_extremely_large_corpus=False,
        minloglevel=1,
    )
    sp = spm.SentencePieceProcessor(model_file=args.out + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i).replace(TAB_STANDIN, "\t"))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.id_to_piece(i) in USER_DEFINED:
            types.append(4)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    vocab = {"model": "llama", "tokens": tokens, "scores": scores, "token_types": types,
             "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.piece_to_id("<|endoftext|>"),
             "fim_pre_id": sp.piece_to_id("<|fim_prefix|>"), "fim_suf_id": sp.piece_to_id("<|fim_suffix|>"),
             "fim_mid_id": sp.piece_to_id("<|fim_middle|>"), "fim_pad_id": sp.piece_to_id("<|fim_pad|>")}
    with open(args.out + ".vocab.json", "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    # Round trip: code must come back byte for byte.
    sample = "func main() {\n\tif err != nil {\n\t\treturn err\n\t}\n}\n    x  =  'é€😀'\r\n\n"
    ids = encode(sp, sample)
    assert decode(sp, ids) == sample, (sample, decode(sp, ids))
    print("vocab", len(tokens), "sample tokens", len(ids), [sp.id_to_piece(i) for i in ids])


if __name__ == "__main__":
    main()
