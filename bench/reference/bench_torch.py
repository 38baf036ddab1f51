#!/usr/bin/env python3
"""Times the PyTorch reference Glow (glow_ref.py) the way bench/glow-bench.mjs times hierglow.

One measurement per process, so the peak RSS printed is that measurement's own:

  /usr/bin/python3 bench_torch.py --checkpoint DIR --input batch.safetensors --mode train --batch 64
  /usr/bin/python3 bench_torch.py --config '{"kind":"glow","height":32,...}' --mode train --batch 64

- --checkpoint: a hierglow checkpoint (glow-bench.mjs writes one per config, data-initialised),
  loaded with glow_ref.load_checkpoint, the mapping check-parity.mjs relies on: both sides time
  the same weights. --input: NHWC images ("x"), of which the first --batch are used. Without
  them (--config), a randomly initialised model (identity ActNorms) and seeded pixels.
- train: forward + backward + Adamax update (lr 5e-4, weight decay 5e-5, PyTorch semantics) on
  the mean discrete NLL -log p(x) + D ln 256; a step with a non-finite gradient is skipped, as
  the hierglow trainer does (spec 6.1).
- score: log p(x) under torch.no_grad().
- --flush-denormal: torch.set_flush_denormal(True) (the "tuned" peer; glow-bench.mjs also sets
  GLIBC_TUNABLES or LD_PRELOADs jemalloc for it, which this script only reports).
- --profile N: after the timed steps, one more step under torch.profiler (FLOP counted for the
  convolutions and products): the N ops with the most self time, with GFLOP/s where counted,
  as "profile" in the JSON and as a table on stderr (bench/step-ceilings.mjs has hierglow's).
- --conv-peak: also time a large 3x3 convolution ([16,256,32,32] -> 256 channels, 19.3 GFLOP)
  on oneDNN with --threads threads: the rate native AVX-512 code reaches on these cores, for
  comparison with wasm's SIMD128 peak. (Debian's PyTorch links the generic reference BLAS, so
  a matrix product would measure that, not the cores.)

Inputs are dequantised pixels v/256 - 0.5 + u (spec 2.1), NCHW. Prints one JSON line.
Needs PyTorch (Debian: python3-torch, in /usr/bin/python3) and glow_ref.py beside this file.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from glow_ref import build_model, load_checkpoint, log_prob, read_safetensors  # noqa: E402


def pixels(n, c, h, w, generator):
    levels = torch.randint(0, 256, (n, c, h, w), generator=generator).float()
    return levels / 256 - 0.5 + torch.rand(n, c, h, w, generator=generator) / 256


def profile_step(step, top):
    """One step under torch.profiler: the `top` ops by self CPU time, with GFLOP/s where counted."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        step()
    rows = []
    for e in prof.key_averages():
        ms = e.self_cpu_time_total / 1000
        rows.append(
            {
                "op": e.key,
                "calls": e.count,
                "selfMs": ms,
                "gflop": e.flops / 1e9 if e.flops else None,
                "gflops": e.flops / (e.cpu_time_total * 1e3) if e.flops and e.cpu_time_total else None,
            }
        )
    rows.sort(key=lambda r: -r["selfMs"])
    total = sum(r["selfMs"] for r in rows)
    print(f"| op | calls | self ms | % | GFLOP | GFLOP/s (its total time) |", file=sys.stderr)
    print("|---|---:|---:|---:|---:|---:|", file=sys.stderr)
    for r in rows[:top]:
        gflop = f"{r['gflop']:.2f}" if r["gflop"] else "-"
        rate = f"{r['gflops']:.1f}" if r["gflops"] else "-"
        print(
            f"| {r['op']} | {r['calls']} | {r['selfMs']:.1f} | {100 * r['selfMs'] / total:.1f} | {gflop} | {rate} |",
            file=sys.stderr,
        )
    # The profiler counts FLOP on the forward convolution only; its backward (input and filter
    # gradients) does twice that work.
    by_op = {r["op"]: r for r in rows}
    conv = {}
    forward = by_op.get("aten::conv2d")
    if forward and forward["gflop"]:
        fwd_ms = sum(by_op[k]["selfMs"] for k in ("aten::mkldnn_convolution", "aten::thnn_conv2d") if k in by_op)
        bwd_ms = by_op.get("aten::convolution_backward", {}).get("selfMs", 0)
        conv = {
            "forwardGflop": forward["gflop"],
            "forwardMs": fwd_ms,
            "forwardGflops": forward["gflop"] / fwd_ms * 1e3 if fwd_ms else None,
            "backwardGflop": 2 * forward["gflop"],
            "backwardMs": bwd_ms,
            "backwardGflops": 2 * forward["gflop"] / bwd_ms * 1e3 if bwd_ms else None,
        }
        print(
            f"convolutions: forward {conv['forwardGflop']:.2f} GFLOP in {fwd_ms:.1f} ms"
            f" ({conv['forwardGflops'] or 0:.1f} GFLOP/s); backward {conv['backwardGflop']:.2f} GFLOP"
            f" in {bwd_ms:.1f} ms ({conv['backwardGflops'] or 0:.1f} GFLOP/s); all ops {total:.1f} ms self time",
            file=sys.stderr,
        )
    return {"selfMsTotal": total, "convolutions": conv, "top": rows[:top]}


def conv_peak_gflops(batch=16, channels=256, side=32, repeats=7):
    x = torch.rand(batch, channels, side, side)
    w = torch.rand(channels, channels, 3, 3)
    with torch.no_grad():
        torch.nn.functional.conv2d(x, w, padding=1)
        best = min(_timed(lambda: torch.nn.functional.conv2d(x, w, padding=1)) for _ in range(repeats))
    return 2 * batch * side * side * 9 * channels * channels / best / 1e9


def _timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="hierglow model config as JSON (kind glow); random weights")
    parser.add_argument("--checkpoint", help="hierglow checkpoint directory (weights and config)")
    parser.add_argument("--input", help="safetensors file with 'x', NHWC images (with --checkpoint)")
    parser.add_argument("--mode", choices=["train", "score"], required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--runs", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile one more step: top N ops")
    parser.add_argument("--conv-peak", action="store_true", help="time a large oneDNN 3x3 convolution")
    args = parser.parse_args(argv)
    if (args.config is None) == (args.checkpoint is None):
        parser.error("give exactly one of --config and --checkpoint")

    torch.set_num_threads(args.threads)
    flush_denormal = bool(args.flush_denormal and torch.set_flush_denormal(True))
    generator = torch.Generator().manual_seed(1)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
        config = json.loads((Path(args.checkpoint) / "config.json").read_text())
        cfg = config.get("model", config)
    else:
        cfg = json.loads(args.config)
        model = build_model(cfg)
    c, h, w = cfg["channels"], cfg["height"], cfg["width"]
    dims = c * h * w
    if args.input:
        images = read_safetensors(args.input)["x"]
        if images.shape[0] < args.batch:
            parser.error(f"--input holds {images.shape[0]} images, fewer than --batch {args.batch}")
        x = torch.from_numpy(images[: args.batch].transpose(0, 3, 1, 2).copy()).float()
    else:
        x = pixels(args.batch, c, h, w, generator)
    optimizer = torch.optim.Adamax(model.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-5)

    skipped = 0
    losses = []

    def train_step():
        nonlocal skipped
        optimizer.zero_grad(set_to_none=True)
        log_p, _, _ = log_prob(model, x)
        loss = (dims * math.log(256) - log_p).mean()
        loss.backward()
        finite = all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        if finite:
            optimizer.step()
        else:
            skipped += 1
        losses.append(loss.item())

    def score():
        with torch.no_grad():
            log_p, _, _ = log_prob(model, x)
        losses.append(float((dims * math.log(256) - log_p).mean()))

    step = train_step if args.mode == "train" else score
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    profile = profile_step(step, args.profile) if args.profile > 0 else None
    peak = conv_peak_gflops() if args.conv_peak else None
    print(
        json.dumps(
            {
                "impl": "pytorch",
                "mode": args.mode,
                "batch": args.batch,
                "threads": torch.get_num_threads(),
                "torchVersion": torch.__version__,
                "seconds": times,
                "medianSeconds": median,
                "imagesPerSecond": args.batch / median,
                "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "meanNll": losses[-1],
                "firstNll": losses[0] if losses else None,
                "flushDenormal": flush_denormal,
                "glibcTunables": os.environ.get("GLIBC_TUNABLES"),
                "ldPreload": os.environ.get("LD_PRELOAD"),
                "skippedSteps": skipped,
                "parameters": sum(p.numel() for p in model.parameters()),
                "profile": profile,
                "convPeakGflops": peak,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
