"""Writes the PyTorch side of serval-tiny's cross-checks with llama.cpp
(models/servaltiny_test.go compares):

- tokenization: held-out source snippets (and whitespace and Unicode edge
  cases) with the token ids this tokenizer gives; llama.cpp must give the same
  ids for the exported vocabulary;
- logits: FIM prompts with their ids, the top logits after the prompt and the
  greedy continuation, computed from the exported weights.safetensors (the
  same float32 weights the GGUF holds in f16).
"""

import argparse
import json
import random
import struct

import numpy as np
import sentencepiece as spm
import torch

from model import Model
from tokenizer import decode, encode

EDGE_CASES = [
    "func f() {\n\tif err != nil {\n\t\treturn err\n\t}\n}\n",
    "def f(x):\n    if x:\n        return  x  # two  spaces\n\n\n",
    "\t\t\t\t\t\t\t\tdeep\t tab\t\n",
    "s := \"héllo, 世界 😀\"\r\n",
    "   leading spaces and trailing   ",
    "x<0x41>y <|fim_prefix|> literal text that looks like tokens",
]
# Not round-tripped, as in every SentencePiece vocabulary: a literal U+2581
# ("▁") in the text, which the tokenizer cannot tell from an escaped space.

FIM_PROMPTS = [
    ("func (b *Buffer) Len() int {\n\t", "\n}\n"),
    ("\tf, err := os.Open(name)\n\tif err != nil {\n\t\t", "\n\t}\n\tdefer f.Close()\n"),
    ("def area(self):\n        ", "\n\n    def perimeter(self):\n"),
    ("import (\n\t\"fmt\"\n\t\"", "\"\n)\n"),
]


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        a, b = d["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy().reshape(d["shape"]))
    return out, header.get("__metadata__", {})


def model_from_safetensors(cfg, n_vocab, path):
    m = Model(cfg, n_vocab)
    t, _ = load_safetensors(path)
    with torch.no_grad():
        m.token_embd.weight.copy_(t["token_embd.weight"])
        m.output_norm.weight.copy_(t["output_norm.weight"])
        for i, blk in enumerate(m.blocks):
            for name in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                         "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"):
                getattr(blk, name).weight.copy_(t[f"blk.{i}.{name}.weight"])
    m.eval()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--snippets", type=int, default=40)
    ap.add_argument("--greedy", type=int, default=12)
    args = ap.parse_args()

    cfg = json.load(open(args.config))
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer + ".model")
    vocab = json.load(open(args.tokenizer + ".vocab.json"))
    rng = random.Random(1)
    held = [json.loads(l) for l in open(args.corpus + "/heldout.jsonl")]
    texts = list(EDGE_CASES)
    for rec in rng.sample(held, args.snippets):
        t = rec["text"]
        a = rng.randrange(0, max(1, len(t) - 600))
        texts.append(t[a:a + 600])
    tok = []
    for t in texts:
        ids = encode(sp, t)
        assert decode(sp, ids) == t
        tok.append({"text": t, "ids": ids})

    model = model_from_safetensors(cfg, len(vocab["tokens"]), args.weights)
    fim = []
    with torch.no_grad():
        for prefix, suffix in FIM_PROMPTS:
            ids = [vocab["fim_pre_id"]] + encode(sp, prefix) + [vocab["fim_suf_id"]] + encode(sp, suffix) + [vocab["fim_mid_id"]]
            logits = model(torch.tensor([ids]))[0, -1]
            top = torch.topk(logits, 5)
            seq, out = list(ids), []
            margins = []
            for _ in range(args.greedy):
                lg = model(torch.tensor([seq]))[0, -1]
                two = torch.topk(lg, 2)
                nxt = int(two.indices[0])
                margins.append(float(two.values[0] - two.values[1]))
                if nxt == vocab["eos_id"]:
                    break
                out.append(nxt)
                seq.append(nxt)
            fim.append({"prefix": prefix, "suffix": suffix, "ids": ids,
                        "top_ids": top.indices.tolist(), "top_logits": [round(float(v), 5) for v in top.values],
                        "greedy": out, "greedy_margins": [round(m, 5) for m in margins],
                        "greedy_text": decode(sp, out)})
    with open(args.out, "w") as f:
        json.dump({"tokenization": tok, "fim": fim}, f, ensure_ascii=False, indent=0)
    for r in fim:
        print(repr(r["prefix"][-30:]), "->", repr(r["greedy_text"]))


if __name__ == "__main__":
    main()
