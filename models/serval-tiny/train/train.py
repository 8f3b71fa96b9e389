"""Trains serval-tiny on CPU with fill-in-the-middle.

Every sample is a window of a training file, chosen at random (languages
weighted by config "mix", files by length). With probability "fim_rate" it is
rearranged in prefix-suffix-middle order, the order Serval's "qwen" template
sends:

    <|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|>middle<|endoftext|>

The three parts are tokenized separately, as llama.cpp tokenizes the text
between control tokens of a prompt. The middle is what an editor asks for: the
rest of a line (cursor inside a line), one to three whole lines, or a span of
characters. Other samples are plain text.

The learning-rate schedule (linear warm-up, cosine decay) follows progress =
max(step / steps, elapsed / time_budget): a run ends at its step count or its
time budget, whichever comes first, so training fits a shared machine. The
run's log records the steps it took; `--steps N --time-budget 0` replays it.

Outputs in --out: log.csv (loss curve), checkpoint.pt (resumable),
weights.safetensors (float32, llama.cpp tensor names; the Go exporter turns it
into GGUF), config.json, and eval.json (held-out perplexity).
"""

import argparse
import json
import math
import os
import random
import struct
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

from model import Model, count_params
from tokenizer import encode


class Data:
    def __init__(self, path, sp, vocab, cfg, seed):
        self.sp, self.cfg = sp, cfg
        self.rng = random.Random(seed)
        self.by_lang = {}
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if len(rec["text"]) >= 200:
                    self.by_lang.setdefault(rec["lang"], []).append(rec["text"])
        self.langs = [l for l in cfg["mix"] if l in self.by_lang]
        self.lang_w = [cfg["mix"][l] for l in self.langs]
        self.cum = {l: np.cumsum([len(t) for t in ts]) for l, ts in self.by_lang.items()}
        self.pre, self.suf, self.mid = vocab["fim_pre_id"], vocab["fim_suf_id"], vocab["fim_mid_id"]
        self.eot = vocab["eos_id"]

    def pick_text(self):
        lang = self.rng.choices(self.langs, self.lang_w)[0]
        cum = self.cum[lang]
        i = int(np.searchsorted(cum, self.rng.random() * cum[-1], side="right"))
        return self.by_lang[lang][min(i, len(cum) - 1)]

    def window(self, text, n_chars):
        if len(text) <= n_chars:
            return text, True
        start = self.rng.randrange(0, len(text) - n_chars // 2)
        nl = text.rfind("\n", 0, start)
        start = nl + 1 if nl >= 0 else 0
        end = min(len(text), start + n_chars)
        return text[start:end], end == len(text)

    def middle_span(self, w):
        """Start and end of the middle in window w.

        An editor asks with the cursor where the user stops typing: after a
        line's indentation (an editor indents a new line itself) or inside the
        line's code, almost never inside the indentation. So the two line-based
        kinds start their middle after the indentation; only a small share of
        whole-line middles starts at column 0 (a line pasted or typed at the
        left margin), and a line that has no indentation starts there anyway.
        """
        rng = self.rng
        lines = [i + 1 for i, c in enumerate(w) if c == "\n"]
        starts = [0] + lines
        first = len(starts) // 4

        def line_end(ls):
            le = w.find("\n", ls)
            return len(w) if le < 0 else le

        def indent_end(ls, le):
            i = ls
            while i < le and w[i] in " \t":
                i += 1
            return i

        cfg = self.cfg
        after_indent = cfg.get("fim_after_indent", False)  # false: phase 1's split
        mode = rng.random()
        if mode < cfg.get("fim_rest_of_line", 0.45):  # the rest of a line, cursor in its code
            cands = starts[first:] or starts
            if not after_indent:
                ls = rng.choice(cands)
                le = line_end(ls)
                return rng.randint(ls, le), le
            for _ in range(8):  # a line with code: a blank line has no rest to complete
                ls = rng.choice(cands)
                le = line_end(ls)
                ie = indent_end(ls, le)
                if ie < le:
                    break
            if rng.random() < cfg["fim_at_indent"]:
                return ie, le  # the cursor right after the indentation (a new line)
            return rng.randint(ie, le), le
        if mode < cfg.get("fim_rest_of_line", 0.45) + cfg.get("fim_whole_lines", 0.40):
            k = rng.randint(1, 3)  # one to three whole lines
            i = rng.randrange(first, len(starts)) if len(starts) > 1 else 0
            a = starts[i]
            if after_indent and rng.random() >= cfg["fim_column0"]:
                a = indent_end(a, line_end(a))
            b = starts[i + k] if i + k < len(starts) else len(w)
            return a, b
        a = rng.randrange(0, len(w))  # any span of up to 200 characters
        return a, min(len(w), a + rng.randint(0, 200))

    def sample(self):
        """Token ids of one sample, at most context+1 long."""
        n = self.cfg["context"] + 1
        text = self.pick_text()
        w, at_end = self.window(text, int(n * self.cfg["chars_per_token"]))
        def enc(text):
            return encode(self.sp, text)
        if self.rng.random() < self.cfg["fim_rate"]:
            a, b = self.middle_span(w)
            prefix, middle, suffix = w[:a], w[a:b], w[b:]
            mid = enc(middle) + [self.eot]
            suf = enc(suffix)[: self.cfg["max_suffix_tokens"]]
            room = n - 3 - len(mid) - len(suf)
            if room < 8:
                mid = mid[: max(1, n // 2)]
                room = n - 3 - len(mid) - len(suf)
            pre = enc(prefix)
            pre = pre[max(0, len(pre) - room):] if room > 0 else []
            ids = [self.pre] + pre + [self.suf] + suf + [self.mid] + mid
        else:
            ids = enc(w) + ([self.eot] if at_end else [])
        return ids[:n]

    def batch(self, b):
        n = self.cfg["context"] + 1
        x = torch.full((b, n), -1, dtype=torch.long)
        for i in range(b):
            ids = self.sample()
            x[i, : len(ids)] = torch.tensor(ids)
        inp = x[:, :-1].clamp(min=0)
        tgt = x[:, 1:]
        # Weight of each target's loss: "middle_loss_weight" for the middle of
        # a FIM sample and its end-of-text (the targets after <|fim_middle|>),
        # 1 elsewhere. The middle is what an editor asks for, and it is a small
        # share of the tokens: weighting it teaches the model sooner to
        # continue the prefix's end across the suffix.
        after_mid = (torch.cumsum((inp == self.mid).long(), dim=1) > 0).float()
        weight = 1 + (self.cfg.get("middle_loss_weight", 1) - 1) * after_mid
        return inp, tgt, weight


def heldout_windows(path, sp, cfg, per_lang, seed):
    rng = random.Random(seed)
    texts = {}
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            texts.setdefault(rec["lang"], []).append(rec["text"])
    out = {}
    for lang, ts in sorted(texts.items()):
        ids = []
        for t in ts:
            ids.extend(encode(sp, t))
        n = cfg["context"] + 1
        starts = sorted(rng.sample(range(0, max(1, len(ids) - n)), min(per_lang, max(1, len(ids) - n))))
        out[lang] = torch.tensor([ids[s : s + n] for s in starts], dtype=torch.long)
    return out


@torch.no_grad()
def evaluate(model, windows):
    model.eval()
    res = {}
    for lang, w in windows.items():
        tot, cnt = 0.0, 0
        for i in range(0, len(w), 8):
            x = w[i : i + 8]
            logits = model(x[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
            tot += loss.item()
            cnt += x[:, 1:].numel()
        res[lang] = tot / cnt
    model.train()
    return res


def save_safetensors(path, tensors, meta):
    header, offset, blobs = {"__metadata__": meta}, 0, []
    for name, t in tensors:
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def lr_at(progress, cfg):
    if progress < cfg["warmup"]:
        return cfg["lr"] * progress / cfg["warmup"]
    p = (progress - cfg["warmup"]) / (1 - cfg["warmup"])
    return cfg["lr"] * (cfg["min_lr_ratio"] + (1 - cfg["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tokenizer", required=True, help="prefix of <p>.model and <p>.vocab.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=None, help="override config steps")
    ap.add_argument("--time-budget", type=float, default=None, help="seconds; 0 = no limit")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="end this phase after N steps although its schedule runs on (replays a phase stopped early)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu",
                    help="torch device to train on: cpu (the default; what make model uses) or cuda when a GPU is lent")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", help="checkpoint.pt of an earlier phase: start this phase from its weights "
                    "and optimiser state; its log.csv starts this run's log; steps, time budget and the "
                    "learning-rate schedule count from here")
    args = ap.parse_args()

    cfg = json.load(open(args.config))
    if args.steps is not None:
        cfg["steps"] = args.steps
    if args.time_budget is not None:
        cfg["time_budget_s"] = args.time_budget
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA device (Debian's python3-torch is CPU-only)")
    torch.manual_seed(cfg["seed"])
    os.makedirs(args.out, exist_ok=True)

    sp = spm.SentencePieceProcessor(model_file=args.tokenizer + ".model")
    vocab = json.load(open(args.tokenizer + ".vocab.json"))
    data = Data(os.path.join(args.corpus, "train.jsonl"), sp, vocab, cfg, cfg["seed"])
    windows = {lang: w.to(device) for lang, w in
               heldout_windows(os.path.join(args.corpus, "heldout.jsonl"), sp, cfg, cfg["eval_windows"], cfg["seed"]).items()}
    model = Model(cfg, len(vocab["tokens"])).to(device)
    n_params = count_params(model)
    print(f"params {n_params} ({n_params/1e6:.2f}M), vocab {len(vocab['tokens'])}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}], lr=cfg["lr"], betas=(0.9, 0.95))
    step, elapsed_before, tokens = 0, 0.0, 0
    phase_step, phase_elapsed = 0, 0.0  # where this phase began (the schedule counts from there)
    ckpt = os.path.join(args.out, "checkpoint.pt")
    log_path = os.path.join(args.out, "log.csv")
    resuming = args.resume and os.path.exists(ckpt)
    if resuming:
        st = torch.load(ckpt, map_location=device)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed_before, tokens = st["step"], st["elapsed"], st["tokens"]
        phase_step, phase_elapsed = st.get("phase_step", 0), st.get("phase_elapsed", 0.0)
        data.rng.setstate(st["data_rng"])
        print(f"resumed at step {step}", flush=True)
    elif args.init_from:
        st = torch.load(args.init_from, map_location=device)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed_before, tokens = st["step"], st["elapsed"], st["tokens"]
        phase_step, phase_elapsed = step, elapsed_before
        earlier_log = os.path.join(os.path.dirname(args.init_from), "log.csv")
        if os.path.exists(earlier_log):
            with open(earlier_log) as src, open(log_path, "w") as dst:
                dst.write(src.read())
        print(f"phase starts from {args.init_from} at step {step}", flush=True)

    if not (resuming or args.init_from) or not os.path.exists(log_path):
        with open(log_path, "w") as f:
            f.write("step,elapsed_s,tokens,lr,train_loss," + ",".join("heldout_" + l for l in windows) + "\n")
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=1)

    def save(final=False):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "elapsed": elapsed, "tokens": tokens, "data_rng": data.rng.getstate(),
                    "phase_step": phase_step, "phase_elapsed": phase_elapsed}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
        ev = evaluate(model, windows)
        meta = {"step": str(step), "elapsed_s": f"{elapsed:.0f}", "tokens": str(tokens), "params": str(n_params)}
        save_safetensors(os.path.join(args.out, "weights.safetensors"), model.gguf_tensors(), meta)
        json.dump({"step": step, "elapsed_s": round(elapsed), "tokens": tokens, "params": n_params,
                   "final": final, "heldout_loss": ev,
                   "heldout_ppl": {k: math.exp(v) for k, v in ev.items()}},
                  open(os.path.join(args.out, "eval.json"), "w"), indent=1)
        return ev

    t0 = time.time()
    elapsed = elapsed_before
    last_save, run_loss, run_n = time.time(), 0.0, 0
    budget = cfg.get("time_budget_s") or 0
    while True:
        elapsed = elapsed_before + time.time() - t0
        progress = (step - phase_step) / cfg["steps"]
        if budget:
            progress = max(progress, (elapsed - phase_elapsed) / budget)
        if progress >= 1 or (args.stop_after and step - phase_step >= args.stop_after):
            break
        lr = lr_at(progress, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        inp, tgt, weight = (t.to(device) for t in data.batch(cfg["batch"]))
        logits = model(inp)
        if cfg.get("middle_loss_weight", 1) == 1:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-1)
            logged = loss.item()
        else:
            per = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-1, reduction="none")
            w = weight.reshape(-1) * (tgt.reshape(-1) >= 0)
            loss = (per * w).sum() / w.sum()
            logged = per[tgt.reshape(-1) >= 0].mean().item()  # the log stays comparable: unweighted
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += int((tgt >= 0).sum())
        run_loss += logged
        run_n += 1
        if step % cfg["log_every"] == 0:
            print(f"step {step} elapsed {elapsed:.0f}s tokens {tokens} lr {lr:.2e} loss {run_loss/run_n:.4f}", flush=True)
            ev = ""
            if time.time() - last_save >= cfg["save_every_s"]:
                evd = save()
                ev = ",".join(f"{evd[l]:.4f}" for l in windows)
                last_save = time.time()
                print("  heldout", evd, flush=True)
            with open(log_path, "a") as f:
                f.write(f"{step},{elapsed:.1f},{tokens},{lr:.3e},{run_loss/run_n:.4f},{ev}\n")
            run_loss, run_n = 0.0, 0
    evd = save(final=True)
    with open(log_path, "a") as f:
        f.write(f"{step},{elapsed:.1f},{tokens},0,,{','.join(f'{evd[l]:.4f}' for l in windows)}\n")
    print(f"done: step {step} elapsed {elapsed:.0f}s tokens {tokens} heldout {evd}", flush=True)


if __name__ == "__main__":
    main()
