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
    with pytest.raises(InputError, match=r"x must have shape \(B, 1, \*, \*\)"):
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
