#!/usr/bin/env python3
"""Plain-torch peer for `scripts/bench-vs-torch.sh` (never used by tests or CI).

Runs the same three rows as `activepref bench-model`, on the same shapes:
- train: E independent reward MLPs d -> 2048 -> 256 -> 1 (tanh), each one epoch over P pairs in
  minibatches of 32, Bradley-Terry loss -logsigmoid(r_chosen - r_rejected), AdamW (lr 3e-5),
  gradient clipping at norm 1 (as activepref's default);
- score: the forward pass of every member over R rows (no autograd), in chunks of 4,096 rows,
  reported as GFLOP/s (2 x the multiply-adds of the three layers);
- encode: sentence-transformers all-MiniLM-L6-v2 on 64 inputs of exactly 128 tokens, batch 32,
  the best of five passes (as `activepref bench-model`).
Prints `key value` lines.
"""
import argparse
import os
import time

import torch


def mlp(d, gen):
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    m = torch.nn.Sequential(torch.nn.Linear(d, 2048), torch.nn.Tanh(), torch.nn.Linear(2048, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.01)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=2400)
    ap.add_argument("--rows", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--skip-encode", action="store_true")
    # cuda: the GPU peer of `activepref bench-model --device vulkan` (README, "Backends"): every
    # tensor lives on the GPU, and each timer waits for the GPU's queue.
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    if a.device == "cuda":
        print(f"gpu {torch.cuda.get_device_name(0).replace(' ', '_')} (fp32 matmul: TF32 "
              f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'})")
    # The kernels torch uses here: its BLAS and the ATen CPU capability (AVX2 / AVX512 / AMX ...).
    blas = next((kv.split("=", 1)[1] for kv in torch.__config__.show().replace(",", " ").split()
                 if kv.startswith("BLAS_INFO=")), "unknown")
    print(f"kernels BLAS {blas}, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    gen = torch.Generator().manual_seed(1)
    xc = torch.randn(a.pairs, a.dim, generator=gen).to(dev)
    xr = torch.randn(a.pairs, a.dim, generator=gen).to(dev)

    if a.device == "cuda":
        # cuBLAS and the kernels load at their first use: one whole untimed step first.
        w = mlp(a.dim, torch.Generator().manual_seed(0)).to(dev)
        wopt = torch.optim.AdamW(w.parameters(), lr=3e-5, weight_decay=0.0, eps=1e-8)
        (-torch.nn.functional.logsigmoid(w(xc[:32]) - w(xr[:32])).mean()).backward()
        torch.nn.utils.clip_grad_norm_(w.parameters(), 1.0)
        wopt.step()
    sync()
    t = time.perf_counter()
    members = []
    for _ in range(a.members):
        m = mlp(a.dim, gen).to(dev)
        opt = torch.optim.AdamW(m.parameters(), lr=3e-5, weight_decay=0.0, eps=1e-8)
        order = torch.randperm(a.pairs, generator=gen).to(dev)
        for s in range(0, a.pairs, 32):
            idx = order[s:s + 32]
            loss = -torch.nn.functional.logsigmoid(m(xc[idx]) - m(xr[idx])).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
        members.append(m)
    sync()
    print(f"train_secs {time.perf_counter() - t:.3f}")

    x = torch.randn(a.rows, a.dim, generator=gen).to(dev)
    flops = 2.0 * a.rows * a.members * (a.dim * 2048 + 2048 * 256 + 256)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(2):
            sync()
            t = time.perf_counter()
            for m in members:
                for s in range(0, a.rows, 4096):
                    m(x[s:s + 4096])
            sync()
            best = min(best, time.perf_counter() - t)
    print(f"score_secs {best:.3f}")
    print(f"score_gflops {flops / best / 1e9:.1f}")

    if not a.skip_encode:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(os.path.abspath(a.model), device="cpu")
        # 64 distinct inputs of exactly 128 tokens ([CLS] + 126 word pieces + [SEP]): the same ids
        # as activepref's encoder bench, fed as ids so that neither side times the tokenizer.
        words = [1000 + (i * 7919 % 28000) for i in range(2000, 2000 + 64 * 126)]
        ids = torch.tensor([[101] + words[j * 126:(j + 1) * 126] + [102] for j in range(64)])
        feats = lambda b: {"input_ids": ids[b:b + 32], "attention_mask": torch.ones_like(ids[b:b + 32]), "token_type_ids": torch.zeros_like(ids[b:b + 32])}
        with torch.inference_mode():
            st(feats(0))
            secs = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                for b in range(0, 64, 32):
                    st(feats(b))["sentence_embedding"]
                secs = min(secs, time.perf_counter() - t)
        print(f"encode_sentences_per_sec {64 / secs:.1f}")


if __name__ == "__main__":
    main()
