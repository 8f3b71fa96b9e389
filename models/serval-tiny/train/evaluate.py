"""Held-out loss of exported weights on one fixed set of windows, so that
checkpoints of different phases compare: each phase's own log evaluates on
windows drawn with its config's seed.

    python3 evaluate.py --tokenizer T --corpus C --seed 17 run1/weights.safetensors run3/weights.safetensors

prints, per weights file, the loss in nats per token per language (24
windows of 256 tokens from the held-out packages, as train.py draws them).
"""

import argparse
import json
import math
import os

import sentencepiece as spm

from reference import model_from_safetensors
from train import evaluate, heldout_windows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True, help="prefix of <p>.model and <p>.vocab.json")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--seed", type=int, default=17, help="seed of the windows (17: phase 1's)")
    ap.add_argument("weights", nargs="+", help="weights.safetensors files, each with config.json beside it")
    args = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer + ".model")
    vocab = json.load(open(args.tokenizer + ".vocab.json"))
    windows = None
    for path in args.weights:
        cfg = json.load(open(os.path.join(os.path.dirname(path), "config.json")))
        if windows is None:
            windows = heldout_windows(os.path.join(args.corpus, "heldout.jsonl"), sp, cfg, cfg["eval_windows"], args.seed)
        ev = evaluate(model_from_safetensors(cfg, len(vocab["tokens"]), path), windows)
        print(path, json.dumps({k: round(v, 4) for k, v in ev.items()}),
              "perplexity", json.dumps({k: round(math.exp(v), 1) for k, v in ev.items()}), flush=True)


if __name__ == "__main__":
    main()
