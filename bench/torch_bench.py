#!/usr/bin/python3
"""PyTorch CPU reference benchmark for lethe (methodology of /work/shared/targets.md).

    /usr/bin/python3 bench/torch_bench.py                      # all six rows
    /usr/bin/python3 bench/torch_bench.py --config tiny --what train --batch 64 --json

torch.set_num_threads(2), float32, NCHW, the model of tests/fixtures/unet_ref.py
(diffusers UNet2DModel re-implementation, dropout per config, train mode for training).
Training step = zero_grad + forward + MSE on epsilon + backward + AdamW step.
Sampling = one forward under torch.no_grad() (eval mode, class labels given).
3 warm-up steps, then the median of 10 timed steps. Training FLOPs = 3 x forward.
Forward FLOPs per image = 2 x MACs of convs, linears (incl. the time MLP) and the two
attention matmuls, counted here by instrumenting the functional forward; the nominal
values of targets.md (tiny 0.366 G, small 2.208 G) are printed beside them and used for
the GFLOP/s column so numbers compare across implementations.

--tuned-malloc re-executes the script with glibc malloc told to keep freed memory
(MALLOC_MMAP_THRESHOLD_=4 GiB, MALLOC_TRIM_THRESHOLD_=64 GiB, MALLOC_TOP_PAD_=256 MiB):
PyTorch's large activations then stop being mmap'd/munmap'd (and page-faulted again)
every step. Not part of the targets.md methodology, but much faster on VMs where page
faults are expensive (small sample 256 on this VM: 5.5 s -> 3.4 s per step).
"""

import argparse
import importlib.util
import resource
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "..", "tests", "fixtures", "unet_ref.py")

_spec = importlib.util.spec_from_file_location("unet_ref", REF)
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

NOMINAL_GFLOP = {"tiny": 0.366, "small": 2.208}  # forward, per image (targets.md)
TUNED_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(64 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}
CONFIGS = {"tiny": R.TINY, "small": R.SMALL}
# the text-to-image UNet (UNet2DConditionModel, tests/fixtures/unet_cond_ref.py) at lethe's
# canvas-tiny config, conditioned on (n, 16, 64) hidden states as from the committed CLIP
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))   # unet_cond_ref imports unet_ref
_cspec = importlib.util.spec_from_file_location("unet_cond_ref", os.path.join(HERE, "..", "tests", "fixtures", "unet_cond_ref.py"))
RC = importlib.util.module_from_spec(_cspec)
_cspec.loader.exec_module(RC)
CANVAS_TINY = {
    "sample_size": 32, "in_channels": 3, "out_channels": 3, "block_out_channels": [32, 64, 64],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "layers_per_block": 1,
    "attention_head_dim": [1, 2, 2], "norm_num_groups": 8, "cross_attention_dim": 64,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
}
CANVAS_SEQ = 16
DEFAULT_ROWS = [
    ("tiny", "train", 64), ("tiny", "train", 128), ("tiny", "sample", 256),
    ("small", "train", 64), ("small", "train", 128), ("small", "sample", 256),
    ("canvas-tiny", "train", 64), ("canvas-tiny", "sample", 128),
]


def count_forward_flops(cfg):
    """2 x MACs of one forward pass for one image (convs, linears, attention matmuls)."""
    model = R.UNet(cfg).eval()
    total = [0]
    orig_conv, orig_lin = R.conv, R.lin

    def conv(m, x):
        y = orig_conv(m, x)
        co, ci_g, kh, kw = m.weight.shape
        total[0] += 2 * y.numel() * ci_g * kh * kw
        return y

    def lin(m, x):
        y = orig_lin(m, x)
        total[0] += 2 * (y.numel() // m.out_features) * m.in_features * m.out_features
        return y

    def attn(flops):
        total[0] += flops

    R.conv, R.lin = conv, lin
    R.set_attn_flop_hook(attn)
    try:
        s = cfg["sample_size"]
        x = torch.zeros(1, cfg["in_channels"], s, s)
        lab = torch.zeros(1, dtype=torch.long) if cfg["num_class_embeds"] else None
        with torch.no_grad():
            model(x, torch.tensor([10.0]), lab)
    finally:
        R.conv, R.lin = orig_conv, orig_lin
        R.set_attn_flop_hook(None)
    return total[0]


def make_inputs(cfg, batch, gen):
    s = cfg["sample_size"]
    x = torch.randn(batch, cfg["in_channels"], s, s, generator=gen)
    eps = torch.randn(batch, cfg["out_channels"], s, s, generator=gen)
    t = torch.randint(0, 1000, (batch,), generator=gen).to(torch.float32)
    lab = None
    if cfg["num_class_embeds"]:
        lab = torch.randint(0, cfg["num_class_embeds"], (batch,), generator=gen)
    return x, eps, t, lab


def bench_row(name, what, batch, steps, warmup, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if name == "canvas-tiny":
        cfg = RC.make_config(CANVAS_TINY)
        unet = RC.UNetCond(cfg)
        x, eps, t, _ = make_inputs(dict(cfg, num_class_embeds=None), batch, gen)
        lab = torch.randn(batch, CANVAS_SEQ, cfg["cross_attention_dim"], generator=gen)   # the text hidden states
        model = unet
    else:
        cfg = R.make_config(CONFIGS[name])
        model = R.UNet(cfg)
        x, eps, t, lab = make_inputs(cfg, batch, gen)
    if what == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x, t, lab), eps)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x, t, lab)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = 1000.0 * statistics.median(times)
    ips = batch / (ms / 1000.0)
    mult = 3 if what == "train" else 1
    gflops = NOMINAL_GFLOP[name] * mult * ips if name in NOMINAL_GFLOP else 0.0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # the process's peak so far (KiB on Linux)
    return {"impl": "pytorch", "config": name, "what": what, "batch": batch,
            "ms_per_step": round(ms, 2), "images_per_s": round(ips, 2), "gflops": round(gflops, 1),
            "peak_rss_mb": round(rss_mb, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="all", choices=["tiny", "small", "canvas-tiny", "all"])
    ap.add_argument("--what", default="all", choices=["train", "sample", "all"])
    ap.add_argument("--batch", type=int, default=None, help="override the batch of every selected row")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="one JSON object per row on stdout")
    ap.add_argument("--tuned-malloc", action="store_true",
                    help="re-exec with glibc malloc keeping freed memory (see above)")
    args = ap.parse_args()
    if args.tuned_malloc and any(os.environ.get(k) != v for k, v in TUNED_MALLOC_ENV.items()):
        env = dict(os.environ, **TUNED_MALLOC_ENV)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)

    torch.set_num_threads(args.threads)
    rows = [r for r in DEFAULT_ROWS
            if args.config in ("all", r[0]) and args.what in ("all", r[1])]
    if args.batch is not None:
        rows = list(dict.fromkeys((c, w, args.batch) for c, w, _ in rows))

    log = sys.stderr if args.json else sys.stdout
    print("pytorch %s, %d threads, float32 NCHW, %d warm-up + median of %d, malloc %s"
          % (torch.__version__, torch.get_num_threads(), args.warmup, args.steps,
             "tuned" if args.tuned_malloc else "default"), file=log)
    for name in dict.fromkeys(r[0] for r in rows):
        if name == "canvas-tiny":
            n_t, n_p = RC.count_params(RC.UNetCond(RC.make_config(CANVAS_TINY)))
            print("%s %d tensors, %d params (UNet2DConditionModel, context (n, %d, 64))" % (name, n_t, n_p, CANVAS_SEQ),
                  file=log)
            continue
        cfg = R.make_config(CONFIGS[name])
        n_t, n_p = R.count_params(R.UNet(cfg))
        fl = count_forward_flops(cfg)
        print("%-5s %d tensors, %d params; forward GFLOP/image counted %.4f, nominal %.3f"
              % (name, n_t, n_p, fl / 1e9, NOMINAL_GFLOP[name]), file=log)
    if not args.json:
        print("%-6s %-6s %6s %10s %10s %9s" % ("config", "what", "batch", "ms/step", "images/s", "GFLOP/s"))
    for name, what, batch in rows:
        r = bench_row(name, what, batch, args.steps, args.warmup)
        if args.tuned_malloc:
            r["malloc"] = "tuned"
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print("%-6s %-6s %6d %10.1f %10.1f %9.1f" % (name, what, batch, r["ms_per_step"],
                                                        r["images_per_s"], r["gflops"]), flush=True)


if __name__ == "__main__":
    main()
