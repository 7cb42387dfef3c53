#!/usr/bin/env python3
"""Recompute parameter counts for bench/data/calibration_models.csv (stdlib only).

Usage:
    python3 bench/data/check_params.py            # table + exit status 1 on a mismatch
    python3 bench/data/check_params.py --mpt-seq  # also re-derive every MPT NumParams
                                                  # in the calibration measurements csv

Counting convention (same as shared/reference/models_README.md, extended with the
bias / learned-position / embedding-norm terms the older models need):

    V = vocab_size (embedding rows), h = hidden_size, L = num_hidden_layers,
    H = num_attention_heads, K = num_key_value_heads, d = head_dim,
    I = intermediate_size PER BRANCH (for Qwen v1 this is config intermediate_size / 2),
    n = 2 if the norm has a bias (LayerNorm) else 1 (RMSNorm, or a LayerNorm whose
        bias was removed).

    total = embeddings + L * per_layer + final_norm + lm_head

    embeddings = V*h
               + pos_emb_rows*h          (learned absolute positions: MPT benchmark runs)
               + n*h                     (embedding LayerNorm: BLOOM)
    per_layer  = attention + mlp + norms
      attention = h*H*d (q) + 2*h*K*d (k, v) + H*d*h (o)        [GQA/MQA via K]
                + (H*d + 2*K*d) if qkv_bias + h if attn_out_bias
      mlp       = 3*h*I (gated: gate, up, down) or 2*h*I (plain: up, down)
                + bias: (2*I + h) gated / (I + h) plain, if mlp_bias
      norms     = norms_per_layer * n*h
                  (parallel-attention blocks: phi-1.5 = 1 shared norm;
                   Falcon-40B "new decoder architecture" = 2 (ln_attn, ln_mlp);
                   GPT-NeoX parallel residual = 2)
    final_norm = n*h
    lm_head    = V*h (+ V if lm_head_bias) unless tie_word_embeddings is true.

Tied matrices are counted once. Non-persistent buffers (rotary inv_freq, causal masks,
ALiBi slopes) are not parameters and are not counted.
"""
from __future__ import annotations

import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_CSV = os.path.join(HERE, "calibration_models.csv")
MEASUREMENTS_CSV = os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "shared", "reference", "measurements_calibration.csv")
)


def _yes(value: str) -> bool:
    return str(value).strip().lower() in {"yes", "true", "1"}


def count_params(row: dict, pos_emb_rows: int | None = None) -> int | None:
    """Parameter count from one csv row; None for rows without a shape."""
    if not row.get("num_hidden_layers"):
        return None
    V = int(row["vocab_size"])
    h = int(row["hidden_size"])
    L = int(row["num_hidden_layers"])
    H = int(row["num_attention_heads"])
    K = int(row["num_key_value_heads"])
    d = int(row["head_dim"])
    I = int(row["intermediate_size"])
    gated = row["mlp_type"].strip().lower().startswith("gated")
    n = 2 if _yes(row["norm_bias"]) else 1
    rows_pos = int(row["pos_emb_rows"] or 0) if pos_emb_rows is None else pos_emb_rows

    emb = V * h + rows_pos * h + (n * h if _yes(row["embedding_norm"]) else 0)

    attn = h * H * d + 2 * h * K * d + H * d * h
    if _yes(row["qkv_bias"]):
        attn += H * d + 2 * K * d
    if _yes(row["attn_out_bias"]):
        attn += h

    if gated:
        mlp = 3 * h * I + ((2 * I + h) if _yes(row["mlp_bias"]) else 0)
    else:
        mlp = 2 * h * I + ((I + h) if _yes(row["mlp_bias"]) else 0)

    norms = int(row["norms_per_layer"]) * n * h
    per_layer = attn + mlp + norms

    final_norm = n * h
    lm_head = 0
    if not _yes(row["tie_word_embeddings"]):
        lm_head = V * h + (V if _yes(row["lm_head_bias"]) else 0)
    return emb + L * per_layer + final_norm + lm_head


def _fmt(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def main(argv: list[str]) -> int:
    with open(MODELS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))

    header = ("name", "L", "h", "I", "H", "K", "V", "computed", "csv_stored", "published", "diff%")
    print(" | ".join(header))
    bad = 0
    for r in rows:
        comp = count_params(r)
        if comp is None:
            print(f"{r['name']} | - | - | - | - | - | - | - | - | - | {r['notes'][:60]}")
            continue
        stored = int(r["total_params_computed"])
        pub = int(r["published_params"]) if r["published_params"] else None
        diff = f"{100.0 * (pub - comp) / comp:+.3f}" if pub else ""
        flag = "" if comp == stored else "  <-- csv total_params_computed differs"
        if comp != stored:
            bad += 1
        print(
            f"{r['name']} | {r['num_hidden_layers']} | {r['hidden_size']} | {r['intermediate_size']} | "
            f"{r['num_attention_heads']} | {r['num_key_value_heads']} | {r['vocab_size']} | "
            f"{_fmt(comp)} | {_fmt(stored)} | {_fmt(pub) if pub else ''} | {diff}{flag}"
        )

    if "--mpt-seq" in argv and os.path.exists(MEASUREMENTS_CSV):
        by_name = {r["name"]: r for r in rows}
        print("\nMPT NumParams in measurements_calibration.csv vs recomputed at that seq_len")
        print("model | seq_len | csv params_b | recomputed (B) | match")
        seen = set()
        with open(MEASUREMENTS_CSV, newline="") as fh:
            for m in csv.DictReader(fh):
                if not m["model"].startswith("MPT-") or m["model"] not in by_name:
                    continue
                key = (m["model"], m["seq_len"], m["params_b"])
                if key in seen:
                    continue
                seen.add(key)
                p = count_params(by_name[m["model"]], pos_emb_rows=int(m["seq_len"]))
                ok = abs(p / 1e9 - float(m["params_b"])) < 0.0005
                if not ok:
                    bad += 1
                print(f"{m['model']} | {m['seq_len']} | {m['params_b']} | {p / 1e9:.6f} | {'ok' if ok else 'MISMATCH'}")

    if bad:
        print(f"\n{bad} mismatch(es)")
        return 1
    print("\nall stored totals reproduce")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
