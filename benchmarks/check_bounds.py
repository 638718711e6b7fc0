"""Largest |recorded value| and |weight| the book's default training runs reach (CPU, 1 thread), against
minigen.training.MAX_LOSS and MAX_WEIGHT (the divergence bounds). Run: python benchmarks/check_bounds.py"""
import dataclasses
import sys
import time

import torch

from minigen import cvae, cyclegan, data, gan, training, vae

torch.set_num_threads(1)
peak = {}
orig_record = training.Run.record


def record(self, **values):
    for k, v in values.items():
        v = abs(float(v))
        best, name = peak.get("value", (0.0, ""))
        peak["value"] = (v, k) if v > best else (best, name)
    if (self.step + 1) % 25 == 0:
        w = max(t.abs().max().item() for t in self.model.state_dict().values() if t.is_floating_point())
        if w > peak.get("weight", 0):
            peak["weight"] = w
    return orig_record(self, **values)


training.Run.record = record
x, y = data.digits("train", device="cpu")
xd, yd = data.stroke_domains(seed=0, device="cpu")
ring = data.ring8() if hasattr(data, "ring8") else None
cases = {
    "gan RING": (gan, gan.RING, ring.sample),
    "gan RING lr_g x4": (gan, dataclasses.replace(gan.RING, lr_g=4 * gan.RING.lr_d, steps=1000), ring.sample),
    "gan DIGITS": (gan, gan.DIGITS, x),
    "vae default": (vae, vae.VAEConfig(), x),
    "vae gaussian 0.1": (vae, vae.VAEConfig(likelihood="gaussian", sigma_x=0.1, steps=1000), x),
    "cvae default": (cvae, cvae.CVAEConfig(), (x, y)),
    "cvae ch7 style": (cvae, cvae.CVAEConfig(latent_dim=2, hidden=256, beta=1.0, lr=3e-3, batch_size=64,
                                             shift=1, steps=800), (x, y)),
    "cyclegan default": (cyclegan, cyclegan.CycleGANConfig(), (xd, yd)),
    # the paper's identity weight 5 (generator_objective is in the paper's scaling), with the
    # book's lambda_cyc 20
    "cyclegan lambda_id 5": (cyclegan, cyclegan.CycleGANConfig(lambda_id=5.0), (xd, yd)),
}
only = sys.argv[1:]
for name, (module, config, d) in cases.items():
    if only and not any(o in name for o in only):
        continue
    peak.clear()
    t0 = time.perf_counter()
    model = module.build(config, seed=0, device="cpu")
    module.train(model, d, seed=0, device="cpu", progress=False)
    w = max(t.abs().max().item() for t in model.state_dict().values() if t.is_floating_point())
    peak["weight"] = max(peak.get("weight", 0), w)
    print(f"{name:22} steps {config.steps:5}  max |value| {peak['value'][0]:10.4g} ({peak['value'][1]})"
          f"  max |weight| {peak['weight']:10.4g}  [{time.perf_counter() - t0:.0f} s]", flush=True)
