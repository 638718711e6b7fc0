"""Bad input to minigen.cyclegan: images in other ranges ([0, 255], [-1, 1]) at train and
translate, batch sizes, the history buffer, the networks, the settings. Every case asserts the message."""
import pytest
import torch

from minigen import cyclegan as cg
from minigen.checks import DeviceError, InputError, InputTypeError

TINY = cg.CycleGANConfig(channels=2, d_channels=2, history_size=2, batch_size=2, steps=2)
X = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
LABELS = torch.tensor([0, 1, 2, 3])


def _model():
    return cg.build(TINY, seed=0, device="cpu")


ENTRIES = {
    "train x_data": (lambda m, b: cg.train(m, (b, X), steps=1, device="cpu"), "x_data"),
    "train y_data": (lambda m, b: cg.train(m, (X, b), steps=1, device="cpu"), "y_data"),
    "translate": (lambda m, b: cg.translate(m.G, b), "x"),
    "evaluate_translation x": (lambda m, b: cg.evaluate_translation(m.G, m.F, b, X, LABELS, device="cpu"), "x"),
    "evaluate_translation y": (lambda m, b: cg.evaluate_translation(m.G, m.F, X, b, LABELS, device="cpu"), "y"),
}
BAD = {
    "0..255": (X * 255, InputError, r"must have values in \[0, 1\], got \[.*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"must have values in \[0, 1\].*\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"NaN in the data"),
    "empty": (X[:0], InputError, r"is empty"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "3-D": (X[:, 0], InputError, r"unsqueeze\(1\)"),
    "RGB": (X.expand(4, 3, 28, 28), InputError, r"1 channel"),
    "list": (X.tolist(), InputTypeError, r"torch\.Tensor or a NumPy array"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("entry", ENTRIES)
def test_train_and_translate_refuse_other_ranges_and_shapes(entry, bad):
    images, error, match = BAD[bad]
    call, name = ENTRIES[entry]
    with pytest.raises(error, match=(f"^{name} .*" if bad != "list" else "") + match):
        call(_model(), images)


@pytest.mark.parametrize("batch_size, error, match", [
    (-1, InputError, r"batch_size must be a whole number >= 1, got -1"),
    (0, InputError, r"batch_size must be a whole number >= 1, got 0"),
    (2.0, InputTypeError, r"Pass batch_size=2"),
])
def test_translate_refuses_bad_batch_sizes_instead_of_an_empty_result(batch_size, error, match):
    with pytest.raises(error, match=match):
        cg.translate(_model().G, X, batch_size=batch_size)


def test_conversions_give_the_float32_result():
    model = _model()
    torch.testing.assert_close(cg.translate(model.G, X.double().numpy()), cg.translate(model.G, X), rtol=0, atol=0)
    torch.testing.assert_close(cg.translate(model.G, X, batch_size=1), cg.translate(model.G, X))
    h32 = cg.train(_model(), (X, X.flip(0)), steps=2, device="cpu")
    h64 = cg.train(_model(), (X.double(), X.flip(0).double().numpy()), steps=2, device="cpu")
    assert {k: v for k, v in h32.items() if k != "time"} == {k: v for k, v in h64.items() if k != "time"}


@pytest.mark.parametrize("x, error, match", [
    (X[:, 0], InputError, r"x must have shape \(B, 1, \*, \*\), got \(4, 28, 28\)"),
    ((X * 255).to(torch.uint8), InputTypeError, r"x must be floating point"),
    (X.numpy(), InputTypeError, r"torch\.from_numpy"),
    (X.expand(4, 3, 28, 28), InputError, r"x must have shape \(B, 1, \*, \*\), got \(4, 3, 28, 28\)"),
], ids=["3-D", "uint8", "numpy", "RGB"])
@pytest.mark.parametrize("net", ["G", "D_X"])
def test_networks_check_each_batch(net, x, error, match):
    with pytest.raises(error, match=match):
        getattr(_model(), net)(x)


def test_train_step_batches_go_through_the_network_checks():
    model = _model()
    with pytest.raises(InputError, match=r"x must have shape \(B, 1, 28, 28\)"):
        cg.train_step(model, X[:, 0], X, cg.make_optimizers(model), cg.ImageHistory(2), cg.ImageHistory(2))


@pytest.mark.parametrize("call, error, match", [
    (lambda: cg.ImageHistory(-1), InputError, r"size must be a whole number >= 0, got -1"),
    (lambda: cg.ImageHistory(2.5), InputTypeError, r"size must be a whole number"),
    (lambda: cg.ImageHistory(2, generator=0), InputTypeError, r"torch\.Generator\(\)\.manual_seed\(0\)"),
    (lambda: cg.ImageHistory(2).query(X.numpy()), InputTypeError, r"images must be a torch\.Tensor"),
    (lambda: (lambda h: (h.query(X), h.query(torch.rand(2, 1, 5, 5))))(cg.ImageHistory(8)), InputError,
     r"images must have shape \(B, 1, 28, 28\) like those stored, got \(2, 1, 5, 5\)"),
], ids=["size -1", "size float", "generator int", "numpy", "other shape"])
def test_history_buffer(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, error, match", [
    (lambda m: cg.train(m, X, steps=1, device="cpu"), InputTypeError, r"data must be a pair \(x_data, y_data\)"),
    (lambda m: cg.train(m, (X, X), steps=1, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: cg.translate(lambda t: t, X), InputTypeError,
     r"generator must be a Module \(e\.g\. model\.G or model\.F\)"),
    (lambda m: cg.evaluate_translation(m.G, m.F, X, X[:2], LABELS), InputError,
     r"x and y must be paired images of the same shape"),
    (lambda m: cg.evaluate_translation(m.G, m.F, X, X, LABELS[:3]), InputError, r"3 labels for 4 images"),
    (lambda m: cg.evaluate_translation(m.G, m.F, X, X, LABELS.float()), InputTypeError, r"integer classes"),
    (lambda m: cg.evaluate_translation(m.G, m.F, X, X, LABELS, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: cg.build(TINY, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: cg.build(cg.CycleGANConfig), InputTypeError, r"config must be a CycleGANConfig"),
    (lambda m: cg.make_optimizers(m.G), InputTypeError, r"model must be a CycleGAN"),
    (lambda m: cg.identity_loss(X[:0], X[:0], X, X), InputError, r"x is empty.*a mean over no values is undefined"),
    (lambda m: cg.discriminator_objective(X, X[:0], X, X), InputError, r"d_fake is empty"),
    (lambda m: cg.generator_objective(X[:0], X, X.mean(), X.mean(), lambda_cyc=1, lambda_id=0), InputError,
     r"d_fake is empty"),
], ids=["images only", "device", "a function", "unpaired shapes", "labels length", "float labels", "eval device",
        "build device", "build config class", "optimizers of G", "identity empty", "D objective empty",
        "G objective empty"])
def test_other_entries(call, error, match):
    with pytest.raises(error, match=match):
        call(_model())


@pytest.mark.parametrize("field, value, error, match", [
    ("channels", 0, InputError, r"CycleGANConfig\.channels must be a whole number >= 1"),
    ("n_blocks", -1, InputError, r"CycleGANConfig\.n_blocks must be a whole number >= 0"),
    ("history_size", 1.5, InputTypeError, r"CycleGANConfig\.history_size must be a whole number"),
    ("batch_size", 0, InputError, r"CycleGANConfig\.batch_size must be a whole number >= 1"),
    ("steps", -300, InputError, r"CycleGANConfig\.steps must be a whole number >= 1"),
    ("lambda_cyc", -10.0, InputError, r"CycleGANConfig\.lambda_cyc must be a finite number >= 0"),
    ("lr", float("nan"), InputError, r"CycleGANConfig\.lr must be a finite number >= 0, got nan"),
    ("beta1", 1.0, InputError, r"CycleGANConfig\.beta1 must be a finite number >= 0 and < 1"),
    ("input_gain", float("inf"), InputError, r"CycleGANConfig\.input_gain must be a finite number"),
])
def test_config(field, value, error, match):
    with pytest.raises(error, match=match):
        cg.CycleGANConfig(**{field: value})


# ---- issue 13, probe findings
def _step(model, x, y, **kw):
    return cg.train_step(model, x, y, cg.make_optimizers(model), cg.ImageHistory(2), cg.ImageHistory(2), **kw)


@pytest.mark.parametrize("x, y, error, match", [
    (X.clone().fill_(float("nan")), X, InputError, r"x contains NaN or infinite values .* NaN in the data"),
    (X, X * 255, InputError, r"y must have values in \[0, 1\].*divide them by 255"),
    (X * 2 - 1, X, InputError, r"x must have values in \[0, 1\].*\(x \+ 1\) / 2"),
    (torch.rand(2, 1, 32, 32), X, InputError, r"x must have shape \(B, 1, 28, 28\), got \(2, 1, 32, 32\)"),
])
def test_train_step_checks_values_and_size(x, y, error, match):
    model = _model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(error, match=match):
        _step(model, x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("call, match", [
    (lambda m: cg.train_step(m, X, X, cg.make_optimizers(m), None, None), r"history_x must be a ImageHistory"),
    (lambda m: _step(m, X, X, cycle_fn="x"), r"cycle_fn must be a loss function"),
    (lambda m: cg.translate(m, X), r"generator must be one translator, model\.G .* not the whole CycleGAN"),
    (lambda m: cg.translate(m.D_Y, X), r"got a discriminator \(model\.D_X or model\.D_Y\)"),
])
def test_train_step_and_translate_check_their_arguments(call, match):
    with pytest.raises(InputTypeError, match=match):
        call(_model())


def test_translate_refuses_a_module_that_does_not_map_images_to_images():
    with pytest.raises(InputError, match=r"generator must map images \(B, 1, H, W\) to images of the same shape"):
        cg.translate(torch.nn.Linear(2, 2), X)
    with pytest.raises(InputError, match=r"turned \(4, 1, 28, 28\) into \(4, 1, 14, 14\)"):
        cg.translate(torch.nn.AvgPool2d(2), X)


@pytest.mark.parametrize("entry", ["train", "train_step", "translate"])
def test_a_model_with_nan_weights_is_refused(entry):
    model = _model()
    with torch.no_grad():
        next(model.G.parameters()).fill_(float("nan"))
    call = {"train": lambda: cg.train(model, (X, X), steps=1, device="cpu"),
            "train_step": lambda: _step(model, X, X),
            "translate": lambda: cg.translate(model.G, X)}[entry]
    with pytest.raises(InputError, match=r"the model's weights contain NaN/inf .*minigen\.cyclegan\.build"):
        call()


NAN = X.clone().fill_(float("nan"))
LOSSES = [
    (lambda: cg.cycle_loss(X, NAN, X, X), InputError, r"x_cyc contains NaN"),
    (lambda: cg.identity_loss(X, X, NAN, X), InputError, r"y contains NaN"),
    (lambda: cg.cycle_loss(X[:0], X[:0], X, X), InputError, r"x is empty"),
    (lambda: cg.cycle_loss(X, X[:2], X, X), InputError, r"x and x_cyc must have the same shape"),
    (lambda: cg.identity_loss(X, X, X, None), InputTypeError, r"y_idt must be a torch\.Tensor, got NoneType"),
    (lambda: cg.cycle_loss(X.numpy(), X, X, X), InputTypeError, r"x must be a torch\.Tensor, got ndarray"),
    (lambda: cg.generator_objective(torch.zeros(2), torch.zeros(2), torch.tensor(1.0), torch.tensor(1.0),
                                    lambda_cyc=-1, lambda_id=0), InputError,
     r"lambda_cyc must be a finite number >= 0"),
    (lambda: cg.generator_objective(torch.zeros(2), torch.zeros(2), torch.tensor(1.0), torch.tensor(1.0),
                                    lambda_cyc=1, lambda_id=float("nan")), InputError,
     r"lambda_id must be a finite number"),
    (lambda: cg.generator_objective(torch.zeros(2), torch.zeros(2), torch.tensor(1.0), torch.tensor(1.0),
                                    lambda_cyc="1", lambda_id=0), InputTypeError, r"lambda_cyc must be a real number"),
]


@pytest.mark.parametrize("call, error, match", LOSSES)
def test_losses_refuse_nan_empty_mismatched_and_bad_weights(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: cg.ImageHistory(10**12), r"size must be <= 10,000 images"),
    (lambda: cg.CycleGANConfig(channels=10**6), r"CycleGANConfig\.channels must be <= 1024 \(a sane maximum"),
])
def test_huge_sizes_are_refused(call, match):
    with pytest.raises(InputError, match=match):
        call()
