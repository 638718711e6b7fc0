"""Bad input to minigen.gan: data, the per-step function, sampling, the losses, the settings.
Every case asserts the message (what was wrong and what to do), not only the type."""
import numpy as np
import pytest
import torch

from minigen import data, gan
from minigen.checks import DeviceError, InputError, InputTypeError

TINY = gan.GANConfig(z_dim=4, width=2, batch_size=4, steps=2)
TINY_MLP = gan.GANConfig(net="mlp", z_dim=2, width=8, depth=1, batch_size=4, steps=2)
X = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _model(config=TINY):
    return gan.build(config, seed=0, device="cpu")


BAD_DATA = {
    "0..255": (X * 255, InputError, r"real images must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"real images must have values in \[0, 1\].*\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"NaN in the data, not a problem of the model"),
    "inf": (X.clone().index_fill_(0, torch.tensor([2]), float("inf")), InputError, r"in 1 of 8 images"),
    "empty": (X[:0], InputError, r"real images is empty.*at least one image"),
    "one image": (X[:1], InputError, r"at least 2 images \(batch norm needs two examples"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "no channel axis": (X[:, 0], InputError, r"unsqueeze\(1\)"),
    "(images, labels)": ((X, torch.zeros(8, dtype=torch.int64)), InputTypeError,
                         r"pass the images alone, e\.g\. digits\('train'\)\[0\]"),
    "a list": ([0.5, 0.5], InputTypeError, r"got a list"),
    "32x32": (torch.rand(4, 1, 32, 32), InputError, r"28x28 images"),
}


@pytest.mark.parametrize("name", BAD_DATA)
def test_train_refuses_bad_data_before_any_work(name, tmp_path):
    bad, error, match = BAD_DATA[name]
    model = _model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(error, match=match):
        gan.train(model, bad, steps=1, device="cpu", checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()  # nothing was trained or saved
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))


def test_nan_in_the_data_is_not_reported_as_a_divergence():
    with pytest.raises(InputError) as err:
        gan.train(_model(), X.clone().fill_(float("nan")), steps=1, device="cpu")
    assert "diverged" not in str(err.value) and "learning rate" not in str(err.value)


@pytest.mark.parametrize("bad, error, match", [
    (torch.full((6, 2), float("nan")), InputError, r"real points contains NaN.*NaN in the data"),
    (torch.zeros(6, 3), InputError, r"real points must have shape \(n, 2\), got \(6, 3\)"),
    (torch.zeros(0, 2), InputError, r"real points is empty"),
    ("ring", InputTypeError, r"torch\.Tensor or a NumPy array"),
])
def test_train_refuses_bad_points(bad, error, match):
    with pytest.raises(error, match=match):
        gan.train(_model(TINY_MLP), bad, steps=1, device="cpu")


def test_numpy_float64_data_train_exactly_as_float32_tensors():
    h32 = gan.train(_model(), X, steps=2, device="cpu")
    h64 = gan.train(_model(), X.double().numpy(), steps=2, device="cpu")
    for key in h32:
        if key != "time":
            assert h32[key] == h64[key], key
    pts = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    p32 = gan.train(_model(TINY_MLP), pts, steps=2, device="cpu")
    p64 = gan.train(_model(TINY_MLP), pts.double().numpy(), steps=2, device="cpu")
    assert p32["loss_D"] == p64["loss_D"] and p32["loss_G"] == p64["loss_G"]


# --------------------------------------------------------------------------------------------
# The per-step function and the networks: cheap checks of type, shape and dtype
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("real, error, match", [
    (X, InputTypeError, r"real must be a function of no argument.*`lambda: x`"),
    (lambda: [0.5], InputTypeError, r"real\(\) must return a torch\.Tensor batch, got list"),
    (lambda: X.numpy(), InputTypeError, r"real\(\) must return a torch\.Tensor batch, got ndarray"),
    (lambda: X[:, 0], InputError, r"x must have shape \(B, 1, 28, 28\), got \(8, 28, 28\)"),
    (lambda: (X * 255).to(torch.uint8), InputTypeError, r"x must be floating point.*x\.float\(\) / 255"),
    (lambda: torch.rand(4, 1, 32, 32), InputError, r"x must have shape \(B, 1, 28, 28\), got \(4, 1, 32, 32\)"),
], ids=["a tensor", "list", "numpy", "3-D", "uint8", "32x32"])
def test_train_step_checks_what_it_is_given(real, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        gan.train_step(model, real, gan.make_optimizers(model))


def test_train_step_checks_model_and_optimizers():
    model = _model()
    with pytest.raises(InputTypeError, match=r"optimizers must be the dict \{'G': \.\.\., 'D': \.\.\.\}"):
        gan.train_step(model, lambda: X, {"G": None})
    with pytest.raises(InputTypeError, match=r"model must be a GAN \(from minigen\.gan\.build\), got Sequential"):
        gan.train_step(torch.nn.Sequential(), lambda: X, {})


def test_float64_batches_are_converted_at_the_networks():
    model = _model()
    model.eval()
    torch.testing.assert_close(model.D(X.double()), model.D(X), rtol=0, atol=0)
    z = torch.randn(3, 4)
    torch.testing.assert_close(model.G(z.double()), model.G(z), rtol=0, atol=0)


def test_a_batch_of_one_in_training_mode_names_batch_norm():
    model = _model()
    model.train()
    with pytest.raises(InputError, match=r"z must hold at least 2 example\(s\).*batch norm needs two examples"):
        model.G(torch.randn(1, 4))
    with pytest.raises(InputError, match=r"z must have shape \(B, 4\), got \(3, 5\)"):
        model.G(torch.randn(3, 5))
    with pytest.raises(InputError, match=r"x must have shape \(B, 2\), got \(3, 3\)"):
        _model(TINY_MLP).D(torch.randn(3, 3))


# --------------------------------------------------------------------------------------------
# Sampling, building, settings
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, InputError, r"n must be a whole number >= 1, got 0"),
    ({"n": -3}, InputError, r"n must be a whole number >= 1, got -3"),
    ({"n": 2.0}, InputTypeError, r"Pass n=2"),
    ({"n": True}, InputTypeError, r"got True \(bool\)"),
    ({"n": 4, "batch_size": 0}, InputError, r"batch_size must be a whole number >= 1, got 0"),
    ({"n": 4, "batch_size": -1}, InputError, r"batch_size must be a whole number >= 1, got -1"),
    ({"n": 4, "generator": 0}, InputTypeError, r"torch\.Generator\(\)\.manual_seed\(0\)"),
])
def test_sample_refuses_bad_counts(kwargs, error, match):
    with pytest.raises(error, match=match):
        gan.sample(_model(), **kwargs)


def test_sample_n_1_and_batches_work():
    model = _model()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert gan.sample(model, 1, generator=g()).shape == (1, 1, 28, 28)
    torch.testing.assert_close(gan.sample(model, 5, generator=g(), batch_size=2),
                               gan.sample(model, 5, generator=g()))


@pytest.mark.parametrize("call, error, match", [
    (lambda: gan.build(TINY, device="gpu"), DeviceError, r"Unknown device 'gpu'.*'cuda'"),
    (lambda: gan.build("digits"), InputTypeError, r"config must be a GANConfig"),
    (lambda: gan.make_optimizers(torch.nn.Linear(1, 1)), InputTypeError, r"model must be a GAN"),
    (lambda: gan.sample(torch.nn.Linear(1, 1), 3), InputTypeError, r"model must be a GAN"),
    (lambda: gan.train(torch.nn.Linear(1, 1), X), InputTypeError, r"model must be a GAN"),
])
def test_build_and_friends(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("field, value, error, match", [
    ("d_steps", 0, InputError, r"GANConfig\.d_steps must be a whole number >= 1, got 0"),
    ("d_steps", 1.5, InputTypeError, r"GANConfig\.d_steps must be a whole number"),
    ("batch_size", 1, InputError, r"GANConfig\.batch_size must be >= 2 \(batch norm needs two examples"),
    ("batch_size", 0, InputError, r"GANConfig\.batch_size must be >= 2"),
    ("batch_size", 64.0, InputTypeError, r"Pass GANConfig\.batch_size=64"),
    ("steps", 0, InputError, r"GANConfig\.steps must be a whole number >= 1"),
    ("steps", -5, InputError, r"GANConfig\.steps must be a whole number >= 1"),
    ("z_dim", 0, InputError, r"GANConfig\.z_dim must be a whole number >= 1"),
    ("depth", -1, InputError, r"GANConfig\.depth must be a whole number >= 0"),
    ("lr_g", -1e-3, InputError, r"GANConfig\.lr_g must be a finite number >= 0"),
    ("lr_d", float("nan"), InputError, r"GANConfig\.lr_d must be a finite number >= 0, got nan"),
    ("r1", float("inf"), InputError, r"GANConfig\.r1 must be a finite number >= 0, got inf"),
    ("betas", (0.5,), InputError, r"GANConfig\.betas must be a pair"),
    ("betas", (0.5, 1.0), InputError, r"GANConfig\.betas\[i\] must be a finite number >= 0 and < 1"),
    ("net", "cnn", InputError, r"net must be 'conv' or 'mlp'"),
    ("loss", "wgan", InputError, r"loss must be one of"),
])
def test_config_refuses_impossible_settings(field, value, error, match):
    with pytest.raises(error, match=match):
        gan.GANConfig(**{field: value})


# --------------------------------------------------------------------------------------------
# The losses: empty inputs would give NaN
# --------------------------------------------------------------------------------------------
E, T = torch.zeros(0), torch.zeros(3)


@pytest.mark.parametrize("loss, args", [
    (gan.value_function, (E, T)), (gan.value_function, (T, E)), (gan.discriminator_loss, (E, E)),
    (gan.generator_loss_minimax, (E,)), (gan.generator_loss_nonsaturating, (E,)),
    (gan.lsgan_discriminator_loss, (T, E)), (gan.lsgan_generator_loss, (E,)),
    (gan.optimal_discriminator, (E, E)),
], ids=["V real", "V fake", "L_D", "L_G minimax", "L_G ns", "LSGAN D", "LSGAN G", "D*"])
def test_losses_refuse_empty_input_instead_of_nan(loss, args):
    with pytest.raises(InputError, match=r"is empty \(shape \(0,\)\): a mean over no values is undefined"):
        loss(*args)


@pytest.mark.parametrize("loss", [gan.discriminator_loss, gan.lsgan_discriminator_loss])
def test_losses_refuse_numpy_with_the_argument_name(loss):
    with pytest.raises(InputTypeError, match=r"^d_real must be a torch\.Tensor, got ndarray"):
        loss(np.zeros(3), T)


def test_r1_penalty_says_what_is_missing():
    x = torch.randn(3, 2)
    with pytest.raises(InputError, match=r"x\.requires_grad_\(True\) before computing d_real = D\(x\)"):
        gan.r1_penalty(x.sum(1), x, 1.0)
    x.requires_grad_(True)
    with pytest.raises(InputError, match=r"d_real must be computed from x"):
        gan.r1_penalty(torch.randn(3, requires_grad=True), x, 1.0)


# ---- issue 13, probe findings: the per-step function checks values, NaN weights, caps, losses
def _nan_weights(model):
    with torch.no_grad():
        next(model.parameters())[0].fill_(float("nan"))
    return model


STEP_VALUES = {
    "NaN": (X.clone().fill_(float("nan")), r"real\(\) contains NaN or infinite values .* NaN in the data"),
    "0..255": (X * 255, r"real\(\) must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, r"real\(\) must have values in \[0, 1\].*\(x \+ 1\) / 2"),
}


@pytest.mark.parametrize("name", STEP_VALUES)
def test_train_step_checks_the_values_of_each_batch_and_leaves_the_weights(name):
    bad, match = STEP_VALUES[name]
    model = _model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(InputError, match=match):
        gan.train_step(model, lambda: bad, gan.make_optimizers(model))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_train_step_on_points_refuses_nan():
    model = _model(TINY_MLP)
    with pytest.raises(InputError, match=r"real\(\) contains NaN or infinite values"):
        gan.train_step(model, lambda: torch.full((4, 2), float("nan")), gan.make_optimizers(model))


NAN_WEIGHTS = {
    "train": lambda m: gan.train(m, X, steps=1, device="cpu"),
    "train_step": lambda m: gan.train_step(m, lambda: X, gan.make_optimizers(m)),
    "sample": lambda m: gan.sample(m, 4),
}


@pytest.mark.parametrize("entry", NAN_WEIGHTS)
def test_a_model_with_nan_weights_is_refused_not_called_a_divergence(entry):
    with pytest.raises(InputError, match=r"the model's weights contain NaN/inf \(it diverged earlier "
                                         r"or was loaded from a damaged file\): rebuild it with "
                                         r"minigen\.gan\.build\(\.\.\.\) or load a good checkpoint"):
        NAN_WEIGHTS[entry](_nan_weights(_model()))


NAN = torch.tensor([0.0, float("nan")])
LOSS_CASES = [
    (lambda: gan.value_function(NAN, torch.zeros(2)), InputError, r"d_real contains NaN"),
    (lambda: gan.discriminator_loss(torch.zeros(2), NAN), InputError, r"d_fake contains NaN"),
    (lambda: gan.generator_loss_minimax(NAN), InputError, r"d_fake contains NaN"),
    (lambda: gan.generator_loss_nonsaturating(NAN), InputError, r"d_fake contains NaN"),
    (lambda: gan.lsgan_discriminator_loss(NAN, torch.zeros(2)), InputError, r"d_real contains NaN"),
    (lambda: gan.lsgan_generator_loss(NAN), InputError, r"d_fake contains NaN"),
    (lambda: gan.optimal_discriminator(NAN, torch.ones(2)), InputError, r"p_data contains NaN"),
    (lambda: gan.generator_loss_minimax(torch.zeros(3, dtype=torch.int32)), InputTypeError,
     r"d_fake must be a floating-point tensor, got dtype torch\.int32.*d_fake\.float\(\)"),
    (lambda: gan.lsgan_generator_loss(torch.zeros(3, dtype=torch.int64)), InputTypeError,
     r"d_fake must be a floating-point tensor"),
]


@pytest.mark.parametrize("call, error, match", LOSS_CASES)
def test_losses_refuse_nan_and_integer_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("gamma, error, match", [
    (-1, InputError, r"gamma must be a finite number >= 0, got -1"),
    (float("nan"), InputError, r"gamma must be a finite number >= 0, got nan"),
    ("1", InputTypeError, r"gamma must be a real number, got '1'"),
    (None, InputTypeError, r"gamma must be a real number, got None"),
])
def test_r1_penalty_refuses_bad_weights(gamma, error, match):
    x = torch.rand(2, 2, requires_grad=True)
    with pytest.raises(error, match=match):
        gan.r1_penalty(x.sum(1), x, gamma)


STEP_ARGS = [
    (lambda m, o: gan.train_step(m, lambda: X, o, loss_D="x"), InputTypeError, r"loss_D must be a loss function"),
    (lambda m, o: gan.train_step(m, lambda: X, o, loss_G=3), InputTypeError, r"loss_G must be a loss function"),
    (lambda m, o: gan.train_step(m, lambda: X, o, generator="x"), InputTypeError,
     r"generator must be a torch\.Generator or None"),
    (lambda m, o: gan.train_step(m, X, o), InputTypeError, r"real must be a function of no argument.*lambda: x"),
    (lambda m, o: gan.train(m, X, steps=1, device="cpu", loss_D="x"), InputTypeError,
     r"loss_D must be a loss function"),
    (lambda m, o: gan.train(m, lambda: X, steps=1, device="cpu"), InputTypeError,
     r"real must be a tensor of data or a sampler real\(n, generator\), got a function of no argument"),
]


@pytest.mark.parametrize("call, error, match", STEP_ARGS)
def test_train_and_train_step_check_callables(call, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        call(model, gan.make_optimizers(model))


@pytest.mark.parametrize("field, value", [("width", 10**12), ("z_dim", 10**6), ("depth", 1000)])
def test_config_caps_network_sizes(field, value):
    with pytest.raises(InputError, match=rf"GANConfig\.{field} must be <= \d+ \(a sane maximum"):
        gan.GANConfig(**{field: value})


def test_sample_refuses_a_huge_count():
    with pytest.raises(InputError, match=r"n must be <= 1,000,000 samples per call.*several calls"):
        gan.sample(_model(), 10**12)


def test_a_sampler_that_turns_nan_is_reported_as_nan_in_the_data_not_a_divergence():
    ring = data.ring8()
    calls = []

    def sampler(n, generator):
        calls.append(n)
        x = ring.sample(n, generator)
        if len(calls) >= 6:
            x[0, 0] = float("nan")
        return x

    with pytest.raises(InputError, match=r"the batch real\(n, generator\) returned for step 6 contains NaN"):
        gan.train(gan.build(gan.RING, device="cpu"), sampler, steps=20, device="cpu", progress=False)
