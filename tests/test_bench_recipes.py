"""benchmarks/bench_recipes.py: the recipe networks, the -ELBO convention, and a tiny run of the script."""
import copy
import dataclasses
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from minigen import gan, vae
from minigen.data import digits

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_recipes.py"


def _script(name):
    """The script ``benchmarks/<name>.py``, loaded afresh as a module."""
    spec = importlib.util.spec_from_file_location(name, PATH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _script("bench_recipes")


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_recipe_vae_shapes_and_size(bench):
    model = bench.RecipeVAE()
    x = torch.rand(5, 1, 28, 28)
    x_hat, mu, log_var = model(x, torch.Generator().manual_seed(0))
    assert x_hat.shape == (5, 784) and mu.shape == log_var.shape == (5, 20)
    assert bool(((x_hat > 0) & (x_hat < 1)).all())
    # fc1 784*400+400, fc21 and fc22 2*(400*20+20), fc3 20*400+400, fc4 400*784+784
    assert n_params(model) == 784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784 == 652_824


def test_recipe_dcgan_shapes_and_size(bench):
    G, D = bench.RecipeG().apply(bench.recipe_weights_init), bench.RecipeD().apply(bench.recipe_weights_init)
    fake = G(torch.randn(6, 100, 1, 1))
    assert fake.shape == (6, 1, 32, 32) and bool(((fake >= -1) & (fake <= 1)).all())
    d = D(fake)
    assert d.shape == (6,) and bool(((d > 0) & (d < 1)).all())
    # G, bias-free transposed convs (in*out*16) and batch norms (2 per channel), ngf = 64:
    # 100*256*16 + 2*256 + 256*128*16 + 2*128 + 128*64*16 + 2*64 + 64*1*16
    assert n_params(G) == 409_600 + 512 + 524_288 + 256 + 131_072 + 128 + 1_024 == 1_066_880
    # D, ndf = 64: 1*64*16 + 64*128*16 + 2*128 + 128*256*16 + 2*256 + 256*1*16
    assert n_params(D) == 1_024 + 131_072 + 256 + 524_288 + 512 + 4_096 == 661_248
    conv = G.main[0].weight
    assert abs(conv.std().item() - 0.02) < 0.002 and abs(conv.mean().item()) < 0.002  # N(0, 0.02)


def test_padding_round_trip(bench):
    x = digits("validation", device="cpu")[0][:8]
    y = bench.to_recipe_images(x)
    assert y.shape == (8, 1, 32, 32) and y.min() == -1 and y.max() <= 1
    assert bool((y[:, :, :2] == -1).all())  # the padded border is background
    torch.testing.assert_close(bench.from_recipe_images(y), x)


def test_recipe_vae_loss_by_hand(bench):
    x = (torch.rand(2, 784) > 0.5).float()
    half, zeros = torch.full((2, 784), 0.5), torch.zeros(2, 20)
    # BCE of p = 1/2 is ln 2 per pixel; KL is 0 at mu = 0, log_var = 0 and 1/2 per unit mean
    assert math.isclose(bench.recipe_vae_loss(half, x, zeros, zeros).item(), 2 * 784 * math.log(2), rel_tol=1e-6)
    assert math.isclose(bench.recipe_vae_loss(half, x, zeros + 1, zeros).item(),
                        2 * 784 * math.log(2) + 2 * 20 * 0.5, rel_tol=1e-6)


def test_neg_elbo_is_minigen_evaluate_convention(bench):
    """The script's -ELBO for the recipe and minigen.vae.evaluate agree on one minigen VAE."""
    model = vae.build(vae.VAEConfig(), seed=0, device="cpu")
    with torch.no_grad():  # a KL of several nats per image, so a missing or halved KL shows
        model.encoder[-1].bias[:20] = 1.0
        model.encoder[-1].bias[20:] = -1.0
    x = digits("validation", device="cpu")[0][::5]
    ours = vae.evaluate(model, x, k=200, generator=torch.Generator().manual_seed(0))
    theirs = bench.neg_elbo(lambda xb: model.encode(xb.view(-1, 1, 28, 28)),
                            lambda z: torch.sigmoid(model.decode(z)).flatten(1), x, k=200,
                            generator=torch.Generator().manual_seed(1))
    assert ours["units"] == "bce" and ours["kl"] > 10
    # independent draws of z: the two estimates differ by about 0.05 (k = 200, 100 digits)
    assert abs(theirs - ours["neg_elbo"]) < 0.5, (theirs, ours["neg_elbo"])


def test_script_runs_and_prints_every_system_and_target(bench, capsys):
    bench.main(["--marks", "0.5", "1", "--seeds", "0", "--device", "cpu", "--k", "5", "--samples", "100"])
    out = capsys.readouterr().out
    assert "real-vs-real floor" in out
    for mark in ("0.5", "1"):
        assert f"== {mark} s of training, seed 0" in out
    table = out.split("== 1 s of training, seed 0")[1]
    for system in bench.SYSTEMS:
        assert any(line.startswith(system + " ") for line in table.splitlines()), system
    targets = out.split("== targets")[1].splitlines()
    for prefix in ("VAE @0.5 s", "VAE @1 s", "GAN @0.5 s", "GAN @1 s"):
        assert any(line.startswith(prefix) and line.rstrip().endswith("met") for line in targets), prefix
    assert sum("FD ratio" in line for line in targets) == 4
    assert sum("val -ELBO" in line for line in targets) == 2
    assert sum("floor" in line for line in targets) == 1  # the GAN's, at the last mark


def test_tune_vae_script_runs_and_decides(capsys):
    tune = _script("tune_vae_digits")
    tune.main(["--marks", "0.3", "--seeds", "0", "--samples", "100", "--components", "0", "1", "5"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["32"], ["128"])]
    assert [tuple(map(int, r[:2])) for r in rows] == list(tune.CANDIDATES)
    assert all(len(r) == 6 + 3 + 1 for r in rows)  # batch .. -ELBO, three FDs, classes
    assert "chosen: batch" in out and "chosen: K = " in out


def _tune_gan():
    return _script("tune_gan_budget")


def test_tune_gan_rule_needs_every_class_and_a_clear_fd_win():
    better = _tune_gan().better
    marks, seeds = (60.0, 120.0), (0, 1)

    def runs(candidate_fds, candidate_classes=10):
        r = {("default", s, m): {"fd": 5.0 + s, "classes": 7} for s in seeds for m in marks}
        r.update({("c", s, m): {"fd": candidate_fds[s], "classes": candidate_classes} for s in seeds for m in marks})
        return r

    assert better(runs([2.0, 3.0]), "c", seeds, marks)
    assert not better(runs([2.0, 5.0]), "c", seeds, marks)  # worst seed ties the default's best
    assert not better(runs([2.0, 3.0], candidate_classes=9), "c", seeds, marks)
    r = runs([2.0, 3.0])
    r["c", 1, 120.0]["classes"] = 9  # one class short on one seed at one mark is enough to fail
    assert not better(r, "c", seeds, marks)


def test_tune_gan_script_runs_and_decides(capsys):
    _tune_gan().main(["--candidates", "default", "beta0", "--seeds", "0", "--marks", "0.3", "0.6"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["default"], ["beta0"])]
    assert [(r[0], r[2]) for r in rows] == [("default", "0.3"), ("default", "0.6"), ("beta0", "0.3"),
                                            ("beta0", "0.6")]
    assert out.strip().splitlines()[-1].startswith("beta0: ") and "the default (BASE) by the rule" in out


def test_tune_gan_candidates_change_the_settings_the_record_started_from():
    tune = _tune_gan()
    # the record's default had DCGAN's betas; its beta0 candidate is what gan.DIGITS is now
    assert tune.BASE.betas == (0.5, 0.999)
    assert dataclasses.replace(tune.BASE, **tune.CANDIDATES["beta0"]) == gan.DIGITS
    assert dataclasses.replace(tune.BASE, **tune.CANDIDATES["default"]) == tune.BASE


def test_gan_set_changes_only_the_named_fields(bench):
    config = bench.gan_settings(["betas=0,0.99", "batch_size=32"])
    assert config.betas == (0.0, 0.99) and config.batch_size == 32
    assert dataclasses.replace(config, betas=gan.DIGITS.betas, batch_size=gan.DIGITS.batch_size) == gan.DIGITS
    assert bench.gan_settings([]) == gan.DIGITS
    for bad in (["nope=1"], ["betas"], ["batch_size="]):
        with pytest.raises(SystemExit, match="--gan-set takes NAME=VALUE"):
            bench.gan_settings(bad)


def _tune_floor():
    return _script("tune_gan_floor")


def test_tune_floor_trains_as_gan_train_does(monkeypatch):
    # the script's figures are of gan.DIGITS as gan.train trains it (same batches, noise and
    # weights), scored between the step counts on the validation digits without disturbing it
    tune = _tune_floor()
    splits = []

    def fake_evaluate(images, reference="test", **kwargs):
        splits.append(reference)
        return {"fd": 1.0, "classes_covered": 10, "min_class_share": 0.1}

    monkeypatch.setattr(tune.metrics, "evaluate_images", fake_evaluate)
    x = digits("train", device="cpu")[0][:300]
    lives = []  # the live generator's weights after each of steps 1..7, from gan.train
    for k in range(1, 8):
        reference = gan.build(gan.DIGITS, seed=2, device="cpu")
        gan.train(reference, x, steps=k, seed=2, device="cpu", progress=False)
        lives.append({n: t.clone() for n, t in reference.G.named_parameters()})
    for step, _, model, generators in tune.train(x, 2, [3, 7], [0.5]):
        live = model.G
        for name, G in generators.items():
            tune.score(model, G, 2)
            assert model.G is live, f"score({name}) left another generator in the model"
    assert step == 7 and list(generators) == ["live", "ema 0.5"] and generators["live"] is model.G
    assert splits == ["validation"] * 4  # two generators at two step counts, never the test digits
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    # the EMA after every step: w_0 = the initial weights, w_k = 0.5 w_(k-1) + 0.5 live_k
    expected = dict(gan.build(gan.DIGITS, seed=2, device="cpu").G.named_parameters())
    for live_k in lives:
        expected = {n: 0.5 * expected[n] + 0.5 * live_k[n] for n in expected}
    for name, weight in generators["ema 0.5"].named_parameters():
        torch.testing.assert_close(weight, expected[name], rtol=1e-5, atol=1e-6, msg=name)


def test_tune_floor_score_restores_the_model_on_error(monkeypatch):
    tune = _tune_floor()
    model = gan.build(gan.DIGITS, seed=0, device="cpu")
    live, other = model.G, gan.build(gan.DIGITS, seed=1, device="cpu").G

    def broken_sample(*args, **kwargs):
        raise RuntimeError("sampling failed")

    monkeypatch.setattr(tune.gan, "sample", broken_sample)
    with pytest.raises(RuntimeError, match="sampling failed"):
        tune.score(model, other, 0)
    assert model.G is live


def test_tune_floor_ema_update_by_hand():
    ema_update = _tune_floor().ema_update
    ema, live = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        ema.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        live.weight.copy_(torch.tensor([5.0, 6.0, 11.0]))
        live.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    ema_update(ema, live, 0.75)
    assert torch.allclose(ema.weight, torch.tensor([2.0, 3.0, 5.0]))  # 0.75 * ema + 0.25 * live
    assert torch.equal(ema.running_mean, live.running_mean)  # buffers copied, not averaged
    assert torch.equal(live.weight, torch.tensor([5.0, 6.0, 11.0]))  # the live weights untouched


def test_tune_floor_script_runs(capsys):
    _tune_floor().main(["--steps", "2", "4", "--emas", "0.5"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["0"]]
    assert [(r[1], " ".join(r[3:-3])) for r in rows] == [("2", "live"), ("2", "ema 0.5"),
                                                          ("4", "live"), ("4", "ema 0.5")]
    assert all(math.isfinite(float(r[-3])) for r in rows)


def test_tune_floor_recalibrated_statistics_are_the_generators_own():
    # the first batch norm's running mean after recalibration is the mean of its input over
    # the 4,096 z drawn from seed 123, computed here without the copy's batch norm
    tune = _tune_floor()
    G = gan.build(gan.DIGITS, seed=0, device="cpu").G
    with torch.no_grad():  # stale statistics after a training history, as in a trained generator
        for bn in (G.fc[1], G.net[1]):
            bn.running_mean.fill_(5.0)
            bn.running_var.fill_(7.0)
            bn.num_batches_tracked.fill_(4000)
    before = {n: t.clone() for n, t in G.state_dict().items()}
    R = tune.recalibrated(G, gan.DIGITS.z_dim)
    z = torch.randn(4096, gan.DIGITS.z_dim, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        h = G.fc[0](z)
    # the mean over all 4,096, and the average of the 64 batches' unbiased variances
    torch.testing.assert_close(R.fc[1].running_mean, h.mean(0), rtol=1e-4, atol=1e-5)
    expected_var = torch.stack([b.var(0) for b in h.split(64)]).mean(0)
    torch.testing.assert_close(R.fc[1].running_var, expected_var, rtol=1e-4, atol=1e-5)
    assert R.net[1].running_mean.abs().max() < 1.0  # the second layer's, away from the stale 5
    assert not R.training and R is not G
    for name, t in G.state_dict().items():  # the original untouched
        assert torch.equal(t, before[name]), name


def test_tune_floor_lazy_r1_penalises_every_kth_step_with_k_times_the_weight(monkeypatch):
    tune = _tune_floor()
    gammas = []
    real_penalty = tune.gan.r1_penalty

    def recording(d_real, x, gamma):
        gammas.append(gamma)
        return real_penalty(d_real, x, gamma)

    monkeypatch.setattr(tune.gan, "r1_penalty", recording)
    x = digits("train", device="cpu")[0][:300]
    for _, _, model, _ in tune.train(x, 0, [8], [], lazy_r1=4):
        pass
    assert gammas == [4 * gan.DIGITS.r1] * 2  # steps 0 and 4 of 0..7
    assert model.config == gan.DIGITS  # restored after the steps


def test_tune_floor_reuse_fakes_updates_d_as_train_step_and_runs_g_once():
    tune = _tune_floor()
    x = digits("train", device="cpu")[0][:64]
    a, b = (gan.build(gan.DIGITS, seed=0, device="cpu") for _ in range(2))
    opt_a, opt_b = gan.make_optimizers(a), gan.make_optimizers(b)
    calls = []
    a.G.register_forward_hook(lambda *args: calls.append(1))
    G0 = copy.deepcopy(a.G)
    tune.reuse_fakes_step(a, x, opt_a, torch.Generator().manual_seed(1))
    gan.train_step(b, lambda: x, opt_b, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 1  # one generator pass per step (train_step makes two)
    for (name, p), q in zip(a.D.named_parameters(), b.D.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=name)  # same z, same update
    # G's update: one Adam step on the loss of the same fakes under the *updated* D (b.D)
    z = torch.randn(64, gan.DIGITS.z_dim, generator=torch.Generator().manual_seed(1))
    opt_G = torch.optim.Adam(G0.parameters(), lr=gan.DIGITS.lr_g, betas=gan.DIGITS.betas)
    gan.LOSSES[gan.DIGITS.loss][1](b.D(G0(z))).backward()
    opt_G.step()
    for (name, p), q in zip(a.G.named_parameters(), G0.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=name)
    # and train_step's G update differs: it draws a second batch of z
    assert any(not torch.allclose(p, q) for p, q in zip(a.G.parameters(), b.G.parameters()))


def test_tune_floor_other_discriminators():
    tune = _tune_floor()
    x = digits("train", device="cpu")[0][:300]
    for _, _, model, _ in tune.train(x, 0, [2], [], d_width=24):
        assert model.D.net[0].out_channels == 24 and model.G.fc[0].out_features == 2 * 16 * 49
        assert type(model.D) is gan.ConvDiscriminator
    for _, _, model, _ in tune.train(x, 0, [2], [], mbstd=True):
        assert isinstance(model.D, tune.MinibatchStdDiscriminator)
        assert model.D.net[0].out_channels == gan.DIGITS.width
    D = tune.MinibatchStdDiscriminator(16)
    same = x[:1].repeat(8, 1, 1, 1).requires_grad_()  # no spread: the square root's edge
    D(same).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
    # the output of one image depends on the rest of its batch, through the spread
    assert not torch.allclose(D(x[:8])[0], D(torch.cat([x[:1], x[:1].repeat(7, 1, 1, 1)]))[0])


def test_tune_floor_script_runs_with_every_option(capsys, monkeypatch):
    tune = _tune_floor()
    seeds, score = [], tune.score

    def recording(model, G, seed):
        seeds.append(seed)
        return score(model, G, seed)

    monkeypatch.setattr(tune, "score", recording)
    tune.main(["--steps", "2", "--emas", "0.5", "--d-width", "24", "--mbstd",
               "--lazy-r1", "2", "--reuse-fakes", "--recal", "--redraw", "2"])
    out = capsys.readouterr().out
    assert seeds == [0, 0, 0, 0, 1000, 1001]  # the redraws: other z than the scores, each its own
    assert "'d_width': 24, 'mbstd': True, 'lazy_r1': 2, 'reuse_fakes': True" in out
    names = [line.split(None, 3)[3].rsplit(None, 3)[0] for line in out.splitlines()
             if line.split()[:2] == ["0", "2"] and "draws" not in line]
    assert names == ["live", "ema 0.5", "live recal", "ema 0.5 recal"]
    assert "FD over 2 other draws of 1,000 samples: mean" in out
    with pytest.raises(SystemExit):
        tune.main(["--steps", "2", "--redraw", "1"])  # a standard deviation needs two draws
