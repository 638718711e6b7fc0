"""Bad input to minigen.vae: every function that takes images, counts and batch sizes, the
per-step function, the likelihood helpers and the settings. Every case asserts the message."""
import numpy as np
import pytest
import torch

from minigen import vae
from minigen.checks import DeviceError, InputError, InputTypeError

TINY = vae.VAEConfig(latent_dim=2, hidden=8, batch_size=4, steps=2)
X = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _model():
    return vae.build(TINY, seed=0, device="cpu")


ENTRIES = {
    "train": lambda m, x: vae.train(m, x, steps=1, device="cpu"),
    "evaluate": lambda m, x: vae.evaluate(m, x, k=2),
    "kl_per_dimension": lambda m, x: vae.kl_per_dimension(m, x),
    "reconstruct": lambda m, x: vae.reconstruct(m, x),
    "interpolate x_a": lambda m, x: vae.interpolate(m, x, X[: len(x)] if len(x) else X[:0]),
    "log_weights": lambda m, x: vae.log_weights(m, x, 2),
}
NAME = {"train": "x_train", "interpolate x_a": "x_a"}
BAD = {
    "0..255": (X * 255, InputError, r"must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"contains NaN or infinite values.*NaN in the data"),
    "empty": (X[:0], InputError, r"is empty.*pass at least one image"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "no channel axis": (X[:, 0], InputError, r"unsqueeze\(1\)"),
    "flat": (X.flatten(1), InputError, r"view\(-1, 1, 28, 28\)"),
    "RGB": (X.expand(6, 3, 28, 28), InputError, r"1 channel"),
    "list": (X.tolist(), InputTypeError, r"torch\.Tensor or a NumPy array"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("entry", ENTRIES)
def test_every_image_entry_gives_the_same_message(entry, bad):
    images, error, match = BAD[bad]
    with pytest.raises(error, match=f"^{NAME.get(entry, 'x')} .*" + match if bad != "list" else match):
        ENTRIES[entry](_model(), images)


@pytest.mark.parametrize("entry", ENTRIES)
def test_float64_numpy_gives_the_float32_result(entry):
    def run(x):
        torch.manual_seed(0)
        out = ENTRIES[entry](_model(), x)
        return out if not isinstance(out, tuple) else out[0]
    a, b = run(X), run(X.double().numpy())
    if isinstance(a, dict):
        a = {k: v for k, v in a.items() if k != "time"}
        b = {k: v for k, v in b.items() if k != "time"}
        assert a == b
    else:
        assert a.dtype == b.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: vae.evaluate(m, X, batch_size=-1), InputError, r"batch_size must be a whole number >= 1, got -1"),
    (lambda m: vae.evaluate(m, X, batch_size=0), InputError, r"batch_size must be a whole number >= 1, got 0"),
    (lambda m: vae.evaluate(m, X, k=0), InputError, r"k must be a whole number >= 1, got 0"),
    (lambda m: vae.evaluate(m, X, k=2.5), InputTypeError, r"k must be a whole number"),
    (lambda m: vae.evaluate(m, X, generator=3), InputTypeError, r"manual_seed\(3\)"),
    (lambda m: vae.kl_per_dimension(m, X, batch_size=-1), InputError, r"batch_size must be a whole number >= 1"),
    (lambda m: vae.log_weights(m, X, -1), InputError, r"k must be a whole number >= 1"),
    (lambda m: vae.sample(m, 0), InputError, r"n must be a whole number >= 1, got 0"),
    (lambda m: vae.sample(m, -2), InputError, r"n must be a whole number >= 1, got -2"),
    (lambda m: vae.sample(m, 3.0), InputTypeError, r"Pass n=3"),
    (lambda m: vae.interpolate(m, X, X, steps=1), InputError, r"steps must be a whole number >= 2"),
    (lambda m: vae.interpolate(m, X, X[:2]), InputError, r"x_a and x_b must hold the same number of images"),
    (lambda m: vae.train(m, X, steps=1, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: vae.train(torch.nn.Linear(1, 1), X), InputTypeError, r"model must be a VAE"),
    (lambda m: vae.sample(torch.nn.Linear(1, 1), 2), InputTypeError, r"model must be a VAE"),
    (lambda m: vae.reconstruct(torch.nn.Linear(1, 1), X), InputTypeError, r"model must be a VAE"),
    (lambda m: vae.build(TINY, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: vae.build(vae.VAEConfig), InputTypeError, r"config must be a VAEConfig"),
], ids=["evaluate bs -1", "evaluate bs 0", "evaluate k 0", "evaluate k float", "evaluate generator",
        "kl bs", "log_weights k", "sample 0", "sample -2", "sample float", "interpolate steps",
        "interpolate lengths", "train device", "train model", "sample model", "reconstruct model",
        "build device", "build config class"])
def test_counts_sizes_models_devices(call, error, match):
    with pytest.raises(error, match=match):
        call(_model())


def test_evaluate_batch_size_1_is_the_same_as_one_batch():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    one = vae.evaluate(_model(), X[:2], k=3, batch_size=1, generator=g())
    assert one["neg_elbo"] > 0 and np.isfinite(one["neg_iwae"])


# --------------------------------------------------------------------------------------------
# The per-step path: the network checks type, shape and dtype of each batch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, error, match", [
    (X[:, 0], InputError, r"x must have shape \(B, 1, 28, 28\), got \(6, 28, 28\)"),
    ((X * 255).to(torch.uint8), InputTypeError, r"x must be floating point.*x\.float\(\) / 255"),
    (X.numpy(), InputTypeError, r"x must be a torch\.Tensor, got ndarray\. Convert it with torch\.from_numpy"),
    (torch.rand(2, 1, 32, 32), InputError, r"got \(2, 1, 32, 32\)"),
], ids=["3-D", "uint8", "numpy", "32x32"])
def test_train_step_checks_its_batch(x, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        vae.train_step(model, x, vae.make_optimizers(model))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_train_step_accepts_other_float_batches(dtype):
    # the network gets float32; the ELBO compares its output with x as given (type promotion), so
    # the losses agree with float32 input up to the rounding of x and of the arithmetic
    a, b = _model(), _model()
    la = vae.train_step(a, X, vae.make_optimizers(a), generator=torch.Generator().manual_seed(0))
    lb = vae.train_step(b, X.to(dtype), vae.make_optimizers(b), generator=torch.Generator().manual_seed(0))
    for k in la:
        torch.testing.assert_close(lb[k].float(), la[k], rtol=1e-3, atol=1e-3)


def test_decode_checks_z():
    with pytest.raises(InputError, match=r"z must have shape \(B, 2\), got \(3, 5\)"):
        _model().decode(torch.zeros(3, 5))


@pytest.mark.parametrize("call, error, match", [
    (lambda: vae.iwae_bound(torch.zeros(0, 3)), InputError, r"log_w must be a tensor \(k, B\) with k >= 1"),
    (lambda: vae.iwae_bound(torch.zeros(3, 0)), InputError, r"B >= 1 images"),
    (lambda: vae.iwae_bound(torch.zeros(3)), InputError, r"got Tensor \(3,\)"),
    (lambda: vae.bernoulli_log_likelihood(X, X[:2]), InputError, r"x and logits must be tensors of the same shape"),
    (lambda: vae.decoder_log_likelihood(X, X, likelihood="poisson"), InputError, r"'bernoulli' or 'gaussian'"),
    (lambda: vae.shift_images(X, -1), InputError, r"max_shift must be a whole number >= 0, got -1"),
    (lambda: vae.shift_images(X, 28), InputError, r"max_shift must be smaller than the images \(28x28\)"),
    (lambda: vae.shift_images(X, 1.0), InputTypeError, r"Pass max_shift=1"),
    (lambda: vae.shift_images(X[:, 0], 1), InputError, r"x must have shape \(B, \.\.\.\)|4 axes"),
], ids=["iwae k=0", "iwae B=0", "iwae 1-D", "bernoulli shapes", "likelihood", "shift -1", "shift 28",
        "shift float", "shift 3-D"])
def test_equation_helpers(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("field, value, error, match", [
    ("latent_dim", 0, InputError, r"VAEConfig\.latent_dim must be a whole number >= 1, got 0"),
    ("hidden", 2.5, InputTypeError, r"VAEConfig\.hidden must be a whole number"),
    ("batch_size", 0, InputError, r"VAEConfig\.batch_size must be a whole number >= 1"),
    ("steps", -1, InputError, r"VAEConfig\.steps must be a whole number >= 1"),
    ("shift", -1, InputError, r"VAEConfig\.shift must be a whole number >= 0"),
    ("sigma_x", 0.0, InputError, r"VAEConfig\.sigma_x must be a finite number > 0"),
    ("beta", -1.0, InputError, r"VAEConfig\.beta must be a finite number >= 0"),
    ("lr", float("nan"), InputError, r"VAEConfig\.lr must be a finite number >= 0, got nan"),
    ("arch", "resnet", InputError, r"arch must be 'mlp' or 'conv'"),
])
def test_config(field, value, error, match):
    with pytest.raises(error, match=match):
        vae.VAEConfig(**{field: value})


# ---- issue 13, probe findings: the per-step function checks values, NaN weights, caps, equations
def _nan_weights(model):
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("nan"))
    return model


@pytest.mark.parametrize("bad, match", [
    (X.clone().fill_(float("nan")), r"x contains NaN or infinite values .* NaN in the data"),
    (X * 255, r"x must have values in \[0, 1\].*divide them by 255"),
    (X * 2 - 1, r"x must have values in \[0, 1\].*\(x \+ 1\) / 2"),
])
def test_train_step_checks_the_values_of_its_batch(bad, match):
    model = _model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(InputError, match=match):
        vae.train_step(model, bad, vae.make_optimizers(model))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


NAN_WEIGHTS = {
    "train": lambda m: vae.train(m, X, steps=1, device="cpu"),
    "train_step": lambda m: vae.train_step(m, X, vae.make_optimizers(m)),
    "sample": lambda m: vae.sample(m, 2),
    "evaluate": lambda m: vae.evaluate(m, X, k=2),
}


@pytest.mark.parametrize("entry", NAN_WEIGHTS)
def test_a_model_with_nan_weights_is_refused_not_called_a_divergence(entry):
    with pytest.raises(InputError, match=r"the model's weights contain NaN/inf \(it diverged earlier "
                                         r"or was loaded from a damaged file\): rebuild it with "
                                         r"minigen\.vae\.build\(\.\.\.\) or load a good checkpoint"):
        NAN_WEIGHTS[entry](_nan_weights(_model()))


NAN2 = torch.tensor([[0.0, float("nan")]])
Z2 = torch.zeros(1, 2)
EQUATIONS = [
    (lambda: vae.reparameterize(NAN2, Z2), InputError, r"mu contains NaN"),
    (lambda: vae.kl_terms(Z2, NAN2), InputError, r"log_var contains NaN"),
    (lambda: vae.gaussian_kl(NAN2, Z2), InputError, r"mu contains NaN"),
    (lambda: vae.iwae_bound(NAN2), InputError, r"log_w contains NaN"),
    (lambda: vae.reparameterize(torch.zeros(0, 2), torch.zeros(0, 2)), InputError, r"mu is empty"),
    (lambda: vae.kl_terms(torch.zeros(0, 2), torch.zeros(0, 2)), InputError, r"mu is empty"),
    (lambda: vae.gaussian_kl(Z2, torch.zeros(1, 3)), InputError, r"the arguments must have the same shape"),
    (lambda: vae.kl_terms(Z2.numpy(), Z2), InputTypeError, r"mu must be a torch\.Tensor, got ndarray.*from_numpy"),
    (lambda: vae.reparameterize(None, Z2), InputTypeError, r"mu must be a torch\.Tensor, got NoneType"),
    (lambda: vae.elbo(X[:4], torch.zeros(4, 1, 28, 28), torch.zeros(2, 2), torch.zeros(2, 2)), InputError,
     r"mu and log_var must hold one row per image: 2 rows for 4 images"),
    (lambda: vae.elbo(X[:0], torch.zeros(0, 1, 28, 28), torch.zeros(0, 2), torch.zeros(0, 2)), InputError,
     r"is empty"),
    (lambda: vae.elbo(X[:2] * 255, torch.zeros(2, 1, 28, 28), torch.zeros(2, 2), torch.zeros(2, 2)), InputError,
     r"x must have values in \[0, 1\].*divide them by 255"),
    (lambda: vae.bernoulli_log_likelihood(X[:2] * 255, torch.zeros(2, 1, 28, 28)), InputError,
     r"x must have values in \[0, 1\]"),
    (lambda: vae.bernoulli_log_likelihood(X[:2].numpy(), X[:2].numpy()), InputTypeError,
     r"x must be a torch\.Tensor, got ndarray"),
    (lambda: vae.elbo(X[:2], torch.zeros(2, 1, 28, 28), Z2.repeat(2, 1), Z2.repeat(2, 1), likelihood="gaussian",
                      sigma_x=0), InputError, r"sigma_x must be a finite number > 0, got 0"),
    (lambda: vae.gaussian_log_likelihood(X[:2], X[:2], "x"), InputTypeError,
     r"log_var must be a torch\.Tensor, got str"),
    (lambda: vae.gaussian_log_likelihood(X[:2], X[:3], 0.0), InputError, r"mean must broadcast to x's shape"),
    (lambda: vae.vae_loss(vae.ELBO(*torch.zeros(3)), beta=-1), InputError,
     r"beta must be a finite number >= 0, got -1"),
    (lambda: vae.vae_loss(vae.ELBO(*torch.zeros(3)), beta=float("nan")), InputError,
     r"beta must be a finite number"),
    (lambda: vae.vae_loss(vae.ELBO(*torch.zeros(3)), beta="1"), InputTypeError, r"beta must be a real number, got '1'"),
    (lambda: vae.vae_loss((1, 2, 3)), InputTypeError,
     r"parts must be an ELBO \(from minigen\.vae\.elbo\), got tuple"),
]


@pytest.mark.parametrize("call, error, match", EQUATIONS)
def test_equations_refuse_nan_empty_mismatched_and_bad_weights(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda m, o: vae.train_step(m, X, o, elbo_fn="x"), r"elbo_fn must be a function"),
    (lambda m, o: vae.train(m, X, steps=1, device="cpu", elbo_fn="x"), r"elbo_fn must be a function"),
    (lambda m, o: vae.train_step(m, X, {"x": 1}), r"optimizers must be the dict \{'vae': \.\.\.\}"),
    (lambda m, o: vae.train_step(torch.nn.Linear(1, 1), X, o), r"model must be a VAE"),
])
def test_train_step_and_train_check_their_arguments(call, match):
    model = _model()
    with pytest.raises(InputTypeError, match=match):
        call(model, vae.make_optimizers(model))


@pytest.mark.parametrize("call, match", [
    (lambda m: vae.sample(m, 10**12), r"n must be <= 1,000,000 samples per call"),
    (lambda m: vae.evaluate(m, X, k=10**9), r"k must be <= 10,000 importance samples per image"),
    (lambda m: vae.interpolate(m, X[:1], X[1:2], steps=10**9), r"steps must be <= 1000 images per row"),
    (lambda m: vae.VAEConfig(hidden=10**12), r"VAEConfig\.hidden must be <= 16384 \(a sane maximum"),
    (lambda m: vae.VAEConfig(latent_dim=10**6), r"VAEConfig\.latent_dim must be <= 1024"),
])
def test_huge_counts_and_sizes_are_refused(call, match):
    with pytest.raises(InputError, match=match):
        call(_model())


def test_evaluate_with_a_large_k_takes_fewer_images_at_a_time():
    model, g = _model(), torch.Generator().manual_seed(0)
    out = vae.evaluate(model, X, k=10_000, batch_size=1000, generator=g)
    assert out["k"] == 10_000 and all(v == v for v in out.values())
