"""minigen.training.flush_denormals: every training loop flushes subnormal floats to zero, for
speed only: it is switched back off afterwards, and a run's weights are the same bit for bit."""
from __future__ import annotations

import contextlib

import pytest
import torch

from minigen import gan, training, vae
from minigen.data import digits

SUPPORTED = torch.set_flush_denormal(False) is not None and torch.set_flush_denormal(True)
torch.set_flush_denormal(False)
needs_ftz = pytest.mark.skipif(not SUPPORTED, reason="this CPU has no flush-to-zero mode")


def subnormal_survives() -> bool:
    return torch.tensor([1e-40], dtype=torch.float32).mul(2.0).item() != 0.0


@needs_ftz
def test_the_mode_is_on_inside_and_restored_after_even_on_error():
    assert subnormal_survives()
    with training.flush_denormals():
        assert not subnormal_survives()
    assert subnormal_survives()
    with pytest.raises(ValueError), training.flush_denormals():
        raise ValueError("inside")
    assert subnormal_survives()
    torch.set_flush_denormal(True)  # a caller who had it on keeps it on
    try:
        with training.flush_denormals():
            pass
        assert not subnormal_survives()
    finally:
        torch.set_flush_denormal(False)


@needs_ftz
@pytest.mark.parametrize("family", ["vae", "gan"])
def test_training_gives_the_same_weights_bit_for_bit_and_leaves_the_mode_off(family, monkeypatch,
                                                                              tmp_path):
    torch.set_num_threads(1)
    x = digits("train", device="cpu")[0]
    module, config, steps = (vae, vae.VAEConfig(), 1000) if family == "vae" else (gan, gan.DIGITS, 30)

    def run(name):
        model = module.build(config, seed=0, device="cpu")
        module.train(model, x, steps=steps, seed=0, device="cpu", progress=False,
                     checkpoint=tmp_path / f"{name}.pt", checkpoint_every=0)
        return model

    flushed = run("flushed")
    assert subnormal_survives()  # train() switched the mode back off
    monkeypatch.setattr(module, "flush_denormals", contextlib.nullcontext)
    plain = run("plain")
    for (name, a), b in zip(flushed.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(a, b), name
    if family == "vae":
        # the check is informative: without flushing, Adam's moment estimates do hold subnormal
        # numbers after these steps (those of weights of pixels that are rarely inked: their
        # gradients are zero for hundreds of steps and the running means decay by 0.9 a step)
        tiny = torch.finfo(torch.float32).tiny
        state = torch.load(tmp_path / "plain.pt", weights_only=False)["optimizers"]["vae"]["state"]
        m = torch.cat([s["exp_avg"].abs().flatten() for s in state.values()])
        assert int(((m > 0) & (m < tiny)).sum()) > 1000
