#!/usr/bin/env python3
"""A minimal PyTorch Glow written from hierglow's method spec (docs/method-spec.md, sections 3, 7).

Independent of hierglow's TypeScript code: NCHW tensors, the spec's formulas, PyTorch ops. It
exists to check hierglow's numbers (bench/reference/check-parity.mjs) and to time the same
architecture in PyTorch (bench/glow-bench.mjs).

Module names mirror hierglow's variable names (levels.{k}.steps.{j}.actnorm.loc, ...), so loading
a hierglow checkpoint is a name-for-name copy plus a layout change for the few tensors whose
layout differs between TF (NHWC) and PyTorch (NCHW); see `to_torch_layout`.

Usage:
  /usr/bin/python3 glow_ref.py score --checkpoint DIR --input batch.safetensors --output out.json
  (DIR holds config.json, whose "model" field is the hierglow model config, and
  model.safetensors; the input file holds "x": NHWC float32 images in [-0.5, 0.5).)

Only json, numpy and torch are needed.
"""

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
PRIOR_EPS = 1e-8  # spec 3.5: scale = exp(logs) + 1e-8 in the per-scale prior ActNorm
LOGSCALE_FACTOR = 3.0  # spec 3.4: last conv output multiplied by exp(3 * logs)
SCALE_OFFSET = 2.0  # spec 3.3c: s = sigmoid(r + 2)

# --------------------------------------------------------------------------------------------
# safetensors (8-byte little-endian header length, JSON header, raw little-endian data)

_DTYPES = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """All tensors of a safetensors file as numpy arrays, by name."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
    data = raw[8 + header_len :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    """Writes numpy arrays (float32, float64 or int32) as a safetensors file."""
    names = sorted(tensors)
    header, chunks, offset = {}, [], 0
    codes = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32"}
    for name in names:
        arr = np.ascontiguousarray(tensors[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        blob = arr.tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    head = json.dumps(header).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(head)) + head + b"".join(chunks))


# --------------------------------------------------------------------------------------------
# Layers. Every bijective layer returns (y, logdet) with logdet of shape [B], in nats.


def per_example_sum(v):
    return v.reshape(v.shape[0], -1).sum(dim=1)


class ActNorm(nn.Module):
    """Spec 3.3a: y = exp(logs) * (x + loc), loc added before scaling; log-det = positions * sum(logs).

    One parameter per channel of an NCHW tensor, or per entry of [B, D] vectors (the dense
    Glow's per-dimension ActNorm, spec 7.2).
    """

    def __init__(self, size):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(size))
        self.logs = nn.Parameter(torch.zeros(size))

    def _view(self, p, x):
        return p.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x):
        y = (x + self._view(self.loc, x)) * self._view(torch.exp(self.logs), x)
        return y, self.logs.sum().expand(x.shape[0]) * _positions(x)

    def inverse(self, y):
        x = y * self._view(torch.exp(-self.logs), y) - self._view(self.loc, y)
        return x, -self.logs.sum().expand(y.shape[0]) * _positions(y)


def _orthogonal(size, generator):
    q, r = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


class InvConv1x1LU(nn.Module):
    """Spec 3.3b: W = P (L*M_lower + I)(U*M_upper + diag(sign_s exp(logS))); y[:, o] = sum_i W[o, i] x[:, i]."""

    def __init__(self, channels, generator):
        super().__init__()
        q = _orthogonal(channels, generator)
        p, lower, upper = torch.linalg.lu(q)  # q = p @ lower @ upper
        diag = torch.diagonal(upper)
        self.register_buffer("p", p.float())
        self.register_buffer("signS", torch.sign(diag).float())
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.logS = nn.Parameter(torch.log(torch.abs(diag)).float())

    def weight(self):
        c = self.logS.shape[0]
        eye = torch.eye(c, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.signS * torch.exp(self.logS))
        return self.p @ lower @ upper

    def logdet_per_position(self):
        return self.logS.sum()

    def forward(self, x):
        return _mix(x, self.weight()), self.logdet_per_position().expand(x.shape[0]) * _positions(x)

    def inverse(self, y):
        return _mix(y, torch.inverse(self.weight())), -self.logdet_per_position().expand(y.shape[0]) * _positions(y)


class InvConv1x1Fixed(nn.Module):
    """Spec 7.2 'invconvfixed': a fixed random orthogonal W (a buffer, not trained)."""

    def __init__(self, channels, generator):
        super().__init__()
        self.register_buffer("weight", _orthogonal(channels, generator).float())

    def forward(self, x):
        logdet = torch.linalg.slogdet(self.weight)[1]
        return _mix(x, self.weight), logdet.expand(x.shape[0]) * _positions(x)

    def inverse(self, y):
        logdet = torch.linalg.slogdet(self.weight)[1]
        return _mix(y, torch.inverse(self.weight)), -logdet.expand(y.shape[0]) * _positions(y)


def _positions(x):
    return x[0, 0].numel()


def _mix(x, w):
    """y[:, o] = sum_i w[o, i] x[:, i] for NCHW images or [B, D] vectors."""
    if x.dim() == 2:
        return x @ w.t()
    return torch.einsum("oi,bihw->bohw", w, x)


class Shuffle(nn.Module):
    """y[:, k] = x[:, permutation[k]] (channel axis)."""

    def __init__(self, channels, generator):
        super().__init__()
        self.register_buffer("permutation", torch.randperm(channels, generator=generator).int())

    def forward(self, x):
        return x[:, self.permutation.long()], x.new_zeros(x.shape[0])

    def inverse(self, y):
        return y[:, torch.argsort(self.permutation.long())], y.new_zeros(y.shape[0])


class Reverse(nn.Module):
    def forward(self, x):
        return torch.flip(x, [1]), x.new_zeros(x.shape[0])

    def inverse(self, y):
        return torch.flip(y, [1]), y.new_zeros(y.shape[0])


class Conv3Zeros(nn.Module):
    """The zero-initialised output conv: (conv(x) + bias) * exp(3 * logs) per output channel."""

    def __init__(self, cin, cout, kernel=3):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.logs = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        out = F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2) + self.bias.view(1, -1, 1, 1)
        return out * torch.exp(LOGSCALE_FACTOR * self.logs).view(1, -1, 1, 1)


class PlainConv(nn.Module):
    def __init__(self, cin, cout, kernel, generator):
        super().__init__()
        w = torch.randn(cout, cin, kernel, kernel, generator=generator, dtype=torch.float64) * 0.05
        self.weight = nn.Parameter(w.float())

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2)


class ConvCouplingNet(nn.Module):
    """Spec 3.4: conv3x3 (no bias) -> ActNorm -> ReLU -> conv1x1 (no bias) -> ActNorm -> ReLU -> zero conv3x3."""

    def __init__(self, cin, cout, hidden, generator):
        super().__init__()
        self.conv1 = PlainConv(cin, hidden, 3, generator)
        self.norm1 = ActNorm(hidden)
        self.conv2 = PlainConv(hidden, hidden, 1, generator)
        self.norm2 = ActNorm(hidden)
        self.conv3 = Conv3Zeros(hidden, cout)

    def forward(self, x):
        h = F.relu(self.norm1(self.conv1(x))[0])
        h = F.relu(self.norm2(self.conv2(h))[0])
        return self.conv3(h)


class DenseCouplingNet(nn.Module):
    """Spec 7.2: Linear -> ReLU -> Linear -> ReLU -> Linear, PyTorch default Linear init."""

    def __init__(self, cin, cout, hidden, generator):
        super().__init__()
        self.linear1 = nn.Linear(cin, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, cout)

    def forward(self, x):
        return self.linear3(F.relu(self.linear2(F.relu(self.linear1(x)))))


class AffineCoupling(nn.Module):
    """Spec 3.3c: x_a = first half (unchanged), h = NN(x_a), t = h[:, 0::2], s = sigmoid(h[:, 1::2] + 2),
    y_b = (x_b + t) * s."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def _coefs(self, xa):
        h = self.net(xa)
        return h[:, 0::2], h[:, 1::2] + SCALE_OFFSET

    def forward(self, x):
        xa, xb = torch.chunk(x, 2, dim=1)
        t, pre = self._coefs(xa)
        yb = (xb + t) * torch.sigmoid(pre)
        return torch.cat([xa, yb], dim=1), per_example_sum(F.logsigmoid(pre))

    def inverse(self, y):
        ya, yb = torch.chunk(y, 2, dim=1)
        t, pre = self._coefs(ya)
        xb = yb / torch.sigmoid(pre) - t
        return torch.cat([ya, xb], dim=1), -per_example_sum(F.logsigmoid(pre))


class AdditiveCoupling(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        xa, xb = torch.chunk(x, 2, dim=1)
        return torch.cat([xa, xb + self.net(xa)], dim=1), x.new_zeros(x.shape[0])

    def inverse(self, y):
        ya, yb = torch.chunk(y, 2, dim=1)
        return torch.cat([ya, yb - self.net(ya)], dim=1), y.new_zeros(y.shape[0])


def squeeze(x):
    """Spec 3.2: out[b, 4c + 2i + j, h, w] = in[b, c, 2h + i, 2w + j]."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(y):
    b, c4, h, w = y.shape
    y = y.reshape(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(b, c4 // 4, 2 * h, 2 * w)


class FlowStep(nn.Module):
    """ActNorm -> permutation -> coupling (spec 3.3; dense variant 7.2)."""

    def __init__(self, size, cfg, dense, generator):
        super().__init__()
        self.actnorm = ActNorm(size)
        kind = cfg["permutation"]
        if kind == "lu":
            self.permute = InvConv1x1LU(size, generator)
        elif kind == "fixed":
            self.permute = InvConv1x1Fixed(size, generator)
        elif kind == "shuffle":
            self.permute = Shuffle(size, generator)
        else:
            self.permute = Reverse()
        half = size // 2
        out = size if cfg["coupling"] == "affine" else half
        net_cls = DenseCouplingNet if dense else ConvCouplingNet
        net = net_cls(half, out, cfg["hidden"], generator)
        self.coupling = AffineCoupling(net) if cfg["coupling"] == "affine" else AdditiveCoupling(net)

    def forward(self, x):
        total = x.new_zeros(x.shape[0])
        for layer in (self.actnorm, self.permute, self.coupling):
            x, ld = layer(x)
            total = total + ld
        return x, total

    def inverse(self, y):
        total = y.new_zeros(y.shape[0])
        for layer in (self.coupling, self.permute, self.actnorm):
            y, ld = layer.inverse(y)
            total = total + ld
        return y, total


# --------------------------------------------------------------------------------------------
# Per-scale priors: a bijection z -> u (log-det A) then N(0, I) (log-density Z). Spec 3.5, 3.7.


class PerDimensionPrior(nn.Module):
    """Per-dimension ActNorm on z flattened in NCHW order: u = (exp(logs) + 1e-8) * (z + loc),
    A = sum log(exp(logs) + 1e-8); then N(0, I)."""

    def __init__(self, shape_chw):
        super().__init__()
        size = int(np.prod(shape_chw))
        self.loc = nn.Parameter(torch.zeros(size))
        self.logs = nn.Parameter(torch.zeros(size))

    def standardize(self, z, passed_on):
        scale = torch.exp(self.logs) + PRIOR_EPS
        u = (z.reshape(z.shape[0], -1) + self.loc) * scale
        return u, torch.log(scale).sum().expand(z.shape[0])


class ConditionalPrior(nn.Module):
    """Original Glow's split prior: [mu, log sigma] = (even, odd) channels of a zero conv on h_{k+1}."""

    def __init__(self, z_channels, h_channels):
        super().__init__()
        self.conv = Conv3Zeros(h_channels, 2 * z_channels)

    def standardize(self, z, passed_on):
        out = self.conv(passed_on)
        mean, log_sigma = out[:, 0::2], out[:, 1::2]
        return (z - mean) * torch.exp(-log_sigma), -per_example_sum(log_sigma)


class LearnedTopPrior(nn.Module):
    def __init__(self, shape_chw):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(*shape_chw))
        self.logs = nn.Parameter(torch.zeros(*shape_chw))

    def standardize(self, z, passed_on):
        u = (z - self.mean.unsqueeze(0)) * torch.exp(-self.logs).unsqueeze(0)
        return u, -self.logs.sum().expand(z.shape[0])


def standard_normal_logprob(u):
    u = u.reshape(u.shape[0], -1)
    return -0.5 * (u * u).sum(dim=1) - u.shape[1] * HALF_LOG_2PI


class Scale(nn.Module):
    """One scale: squeeze -> K steps (dense: on the NCHW-flattened vector) -> optional split -> prior."""

    def __init__(self, in_chw, steps, cfg, dense, split, prior_kind, generator):
        super().__init__()
        c, h, w = in_chw
        self.squeezed = (4 * c, h // 2, w // 2)
        self.dense = dense
        self.split = split
        size = int(np.prod(self.squeezed)) if dense else 4 * c
        self.steps = nn.ModuleList([FlowStep(size, cfg, dense, generator) for _ in range(steps)])
        zc = 2 * c if split else 4 * c
        z_chw = (zc, h // 2, w // 2)
        if prior_kind == "per-dimension":
            self.prior = PerDimensionPrior(z_chw)
        elif split:
            self.prior = ConditionalPrior(zc, 2 * c)
        else:
            self.prior = LearnedTopPrior(z_chw)

    def forward(self, x):
        y = squeeze(x)
        flow_logdet = x.new_zeros(x.shape[0])
        if self.dense:
            y = y.reshape(y.shape[0], -1)
        for step in self.steps:
            y, ld = step(y)
            flow_logdet = flow_logdet + ld
        if self.dense:
            y = y.reshape(y.shape[0], *self.squeezed)
        if self.split:
            z, passed_on = torch.chunk(y, 2, dim=1)
        else:
            z, passed_on = y, None
        u, prior_logdet = self.prior.standardize(z, passed_on)
        return passed_on, flow_logdet, prior_logdet, standard_normal_logprob(u)


class MultiScaleGlow(nn.Module):
    """Glow (spec 3) or dense Glow (spec 7.2). log_prob returns (logP, [lp_k], terms) per example."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        dense = cfg["kind"] == "dense-glow"
        generator = torch.Generator().manual_seed(int(cfg.get("seed", 0)))
        prior_kind = cfg.get("prior", "per-dimension")
        chw = (cfg["channels"], cfg["height"], cfg["width"])
        levels = []
        for k in range(cfg["levels"]):
            split = k < cfg["levels"] - 1
            levels.append(Scale(chw, cfg["stepsPerLevel"], cfg, dense, split, prior_kind, generator))
            chw = (2 * chw[0], chw[1] // 2, chw[2] // 2)
        self.levels = nn.ModuleList(levels)

    def scale_terms(self, x):
        """Per scale k: F_k, A_k, Z_k, each [B] (spec 3.7)."""
        terms = []
        h = x
        for scale in self.levels:
            h, f, a, z = scale(h)
            terms.append((f, a, z))
        return terms

    def rows_per_image(self):
        return 1

    def to_rows(self, x):
        return x


class PatchGlow(MultiScaleGlow):
    """Spec 7.1: non-overlapping patches in row-major order as a batch, one scale, no split."""

    def __init__(self, cfg):
        p = cfg["patchSize"]
        inner = dict(cfg, kind="glow", height=p, width=p, levels=1, stepsPerLevel=cfg["steps"], prior="per-dimension")
        super().__init__(inner)
        self.cfg = cfg
        self.patch = p
        self.grid = (cfg["height"] // p, cfg["width"] // p)

    def rows_per_image(self):
        return self.grid[0] * self.grid[1]

    def to_rows(self, x):
        b, c, _, _ = x.shape
        p, (gh, gw) = self.patch, self.grid
        x = x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b * gh * gw, c, p, p)


def build_model(cfg):
    if cfg["kind"] == "patch-glow":
        return PatchGlow(cfg)
    if cfg["kind"] in ("glow", "dense-glow"):
        return MultiScaleGlow(cfg)
    raise ValueError(f"glow_ref.py: unknown model kind {cfg['kind']!r}")


def log_prob(model, x_nchw):
    """Returns logP [B], perScale [L][B] and the F/A/Z terms, all per image (nats)."""
    terms = model.scale_terms(model.to_rows(x_nchw))
    rows = model.rows_per_image()

    def per_image(v):
        return v.reshape(-1, rows).sum(dim=1)

    flows = [per_image(f) for f, _, _ in terms]
    priors = [per_image(a) for _, a, _ in terms]
    bases = [per_image(z) for _, _, z in terms]
    per_scale = [f + a + z for f, a, z in zip(flows, priors, bases)]
    log_p = sum(flows) + sum(priors) + sum(bases)
    return log_p, per_scale, {"flowLogDets": flows, "priorLogDets": priors, "baseLogProbs": bases}


# --------------------------------------------------------------------------------------------
# hierglow weights -> this model


def to_torch_layout(name, array):
    """hierglow (TF, NHWC) layout -> PyTorch (NCHW) layout for one tensor, chosen by its name.

    - conv kernels `...conv{1,2,3}.weight`, `...prior.conv.weight`: [kh, kw, in, out] -> [out, in, kh, kw]
    - dense layers `...linear{n}.weight`: [in, out] -> [out, in]
    - learned top prior `...prior.mean` / `...prior.logs` of rank 3: [H, W, C] -> [C, H, W]
    - everything else (ActNorm loc/logs incl. the per-dimension prior's, which hierglow already
      stores in NCHW-flatten order; the LU factors p, lower, upper, logS, signS and the fixed
      weight, which hierglow stores as W[o, i] like PyTorch; shuffle permutations): unchanged.
    """
    leaf = name.rsplit(".", 2)
    if name.endswith(".weight") and array.ndim == 4:
        return np.transpose(array, (3, 2, 0, 1))
    if len(leaf) >= 2 and leaf[-2].startswith("linear") and leaf[-1] == "weight":
        return np.transpose(array, (1, 0))
    if ".prior." in name and leaf[-1] in ("mean", "logs") and array.ndim == 3:
        return np.transpose(array, (2, 0, 1))
    return array


def load_hierglow_weights(model, tensors):
    """Copies every hierglow tensor into the parameter or buffer of the same name; all must match."""
    own = dict(model.named_parameters())
    own.update(dict(model.named_buffers()))
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise ValueError(f"glow_ref.py: weights do not match the model: missing {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():
        for name, target in own.items():
            value = torch.from_numpy(np.ascontiguousarray(to_torch_layout(name, tensors[name])))
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"glow_ref.py: {name} has shape {tuple(value.shape)}, the model expects {tuple(target.shape)}")
            target.copy_(value.to(target.dtype))


def load_checkpoint(directory):
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    cfg = config["model"] if "model" in config else config
    model = build_model(cfg)
    load_hierglow_weights(model, read_safetensors(directory / "model.safetensors"))
    return model


# --------------------------------------------------------------------------------------------
# CLI


def score(args):
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.checkpoint)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    model = model.to(dtype)
    x = read_safetensors(args.input)["x"]  # NHWC
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))).to(dtype)
    with torch.no_grad():
        log_p, per_scale, terms = log_prob(model, x)
    result = {
        "dtype": args.dtype,
        "logP": log_p.tolist(),
        "perScale": [t.tolist() for t in per_scale],
        **{k: [t.tolist() for t in v] for k, v in terms.items()},
    }
    Path(args.output).write_text(json.dumps(result))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="log p(x) and per-scale terms of a batch under a hierglow checkpoint")
    s.add_argument("--checkpoint", required=True, help="directory with config.json and model.safetensors")
    s.add_argument("--input", required=True, help="safetensors file with 'x': NHWC float32 images")
    s.add_argument("--output", required=True, help="JSON file to write")
    s.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    s.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "score":
        score(args)


if __name__ == "__main__":
    main(sys.argv[1:])
