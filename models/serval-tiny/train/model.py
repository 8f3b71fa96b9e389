"""serval-tiny's network: a llama-architecture decoder (RMSNorm, rotary
position embeddings, grouped-query attention, SwiGLU feed-forward, tied input
and output embeddings), written so that its tensors map one to one onto
llama.cpp's "llama" GGUF tensors.

Rotary embeddings rotate adjacent pairs (x0, x1), (x2, x3), ...: llama.cpp's
LLAMA_ROPE_TYPE_NORM, which it uses for the llama architecture, so the q and k
weights need no permutation at export.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, max_len, base):
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x: (batch, heads, seq, head_dim); pairs are adjacent elements.
    x1, x2 = x[..., 0::2], x[..., 1::2]
    c, s = cos[: x.shape[2]], sin[: x.shape[2]]
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, h, kv = cfg["dim"], cfg["heads"], cfg["kv_heads"]
        self.h, self.kv, self.hd = h, kv, d // h
        self.attn_norm = RMSNorm(d, cfg["norm_eps"])
        self.attn_q = nn.Linear(d, h * self.hd, bias=False)
        self.attn_k = nn.Linear(d, kv * self.hd, bias=False)
        self.attn_v = nn.Linear(d, kv * self.hd, bias=False)
        self.attn_output = nn.Linear(h * self.hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg["norm_eps"])
        self.ffn_gate = nn.Linear(d, cfg["ffn"], bias=False)
        self.ffn_up = nn.Linear(d, cfg["ffn"], bias=False)
        self.ffn_down = nn.Linear(cfg["ffn"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        y = self.attn_norm(x)
        q = self.attn_q(y).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.attn_k(y).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.attn_v(y).view(b, t, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv != self.h:
            # llama.cpp: query head i reads key/value head i // (heads / kv_heads).
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        att = att.masked_fill(mask[:t, :t], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.attn_output(y)
        y = self.ffn_norm(x)
        return x + self.ffn_down(F.silu(self.ffn_gate(y)) * self.ffn_up(y))


class Model(nn.Module):
    def __init__(self, cfg, vocab_size):
        super().__init__()
        self.cfg = cfg
        self.token_embd = nn.Embedding(vocab_size, cfg["dim"])
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.output_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        cos, sin = rope_tables(cfg["dim"] // cfg["heads"], cfg["context"], cfg["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.ones(cfg["context"], cfg["context"], dtype=torch.bool).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        self.apply(self._init)
        for blk in self.blocks:  # scaled residual projections (GPT-2)
            for lin in (blk.attn_output, blk.ffn_down):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg["layers"]))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids):
        x = self.token_embd(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        return self.output_norm(x) @ self.token_embd.weight.t()

    def gguf_tensors(self):
        """(name, float32 tensor) in llama.cpp's naming; Linear weights are
        (out, in) row-major, which is GGUF's [in, out]."""
        out = [("token_embd.weight", self.token_embd.weight),
               ("output_norm.weight", self.output_norm.weight),
               ("output.weight", self.token_embd.weight)]
        for i, blk in enumerate(self.blocks):
            for name in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                         "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"):
                out.append((f"blk.{i}.{name}.weight", getattr(blk, name).weight))
        return [(n, t.detach().float().cpu().contiguous()) for n, t in out]


def count_params(model):
    return sum(p.numel() for p in model.parameters())
