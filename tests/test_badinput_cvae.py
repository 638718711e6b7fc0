"""Bad input to minigen.cvae: images and labels at every entry (train, train_step, the
conditional ELBO, sample, change_label, the networks), the settings. Every case asserts the message."""
import pytest
import torch

from minigen import cvae
from minigen.checks import DeviceError, InputError, InputTypeError

TINY = cvae.CVAEConfig(latent_dim=2, hidden=8, batch_size=4, steps=2)
X = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 3, 7, 9])


def _model():
    return cvae.build(TINY, seed=0, device="cpu")


def _opt(m):
    return cvae.make_optimizers(m)


LABEL_ENTRIES = {
    "train": lambda m, y: cvae.train(m, (X, y), steps=1, device="cpu"),
    "train_step": lambda m, y: cvae.train_step(m, X, y, _opt(m)),
    "conditional_elbo": lambda m, y: cvae.conditional_elbo(m, X, y),
    "forward": lambda m, y: m(X, y),
    "change_label labels": lambda m, y: cvae.change_label(m, X, y, Y),
    "change_label new_labels": lambda m, y: cvae.change_label(m, X, Y, y),
    "decode": lambda m, y: m.decode(torch.zeros(4, 2), y),
}
BAD_LABELS = {
    "float": (Y.float(), InputTypeError, r"integer classes \(int64\), got dtype torch\.float32.*\.long\(\)"),
    "bool": (Y > 3, InputTypeError, r"got dtype torch\.bool"),
    "10": (torch.tensor([0, 1, 2, 10]), InputError, r"classes in 0\.\.9, got values from 0 to 10"),
    "-1": (torch.tensor([-1, 1, 2, 3]), InputError, r"classes in 0\.\.9, got values from -1 to 3"),
    "column": (Y[:, None], InputError, r"must be 1-D \(one class per image\).*flatten"),
    "too few": (Y[:3], InputError, r"3 labels for 4 images"),
    "list": ([0, 1, 2, 3], InputTypeError, r"torch\.tensor\("),
}


@pytest.mark.parametrize("bad", BAD_LABELS)
@pytest.mark.parametrize("entry", LABEL_ENTRIES)
def test_bad_labels_get_one_message_everywhere(entry, bad):
    labels, error, match = BAD_LABELS[bad]
    with pytest.raises(error, match=match):
        LABEL_ENTRIES[entry](_model(), labels)


IMAGE_ENTRIES = {
    "train": (lambda m, x: cvae.train(m, (x, Y[: len(x)]), steps=1, device="cpu"), "images"),
    "change_label": (lambda m, x: cvae.change_label(m, x, Y[: len(x)], Y[: len(x)]), "x"),
}
BAD_IMAGES = {
    "0..255": (X * 255, InputError, r"must have values in \[0, 1\].*divide them by 255"),
    "-1..1": (X * 2 - 1, InputError, r"\(x \+ 1\) / 2"),
    "NaN": (X.clone().fill_(float("nan")), InputError, r"NaN in the data"),
    "empty": (X[:0], InputError, r"is empty"),
    "uint8": ((X * 255).to(torch.uint8), InputTypeError, r"x\.float\(\) / 255"),
    "3-D": (X[:, 0], InputError, r"unsqueeze\(1\)"),
}


@pytest.mark.parametrize("bad", BAD_IMAGES)
@pytest.mark.parametrize("entry", IMAGE_ENTRIES)
def test_bad_images(entry, bad):
    images, error, match = BAD_IMAGES[bad]
    call, name = IMAGE_ENTRIES[entry]
    with pytest.raises(error, match=f"^{name} .*{match}"):
        call(_model(), images)


@pytest.mark.parametrize("x, error, match", [
    (X[:, 0], InputError, r"x must have shape \(B, 1, 28, 28\), got \(4, 28, 28\)"),
    ((X * 255).to(torch.uint8), InputTypeError, r"x must be floating point"),
    (X.numpy(), InputTypeError, r"torch\.from_numpy"),
], ids=["3-D", "uint8", "numpy"])
@pytest.mark.parametrize("entry", ["train_step", "conditional_elbo"])
def test_per_step_functions_check_the_batch(entry, x, error, match):
    model = _model()
    call = (lambda: cvae.train_step(model, x, Y, _opt(model))) if entry == "train_step" \
        else (lambda: cvae.conditional_elbo(model, x, Y))
    with pytest.raises(error, match=match):
        call()


def test_conversions_give_the_float32_int64_result():
    def trained(images, labels):
        model = _model()
        return {k: v for k, v in cvae.train(model, (images, labels), steps=2, device="cpu").items() if k != "time"}
    assert trained(X.double().numpy(), Y.int().numpy()) == trained(X, Y)
    model = _model()
    torch.testing.assert_close(cvae.change_label(model, X.double(), Y.int(), Y.numpy()),
                               cvae.change_label(model, X, Y, Y), rtol=0, atol=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: cvae.sample(m, Y[:0]), InputError, r"labels is empty: pass at least one class"),
    (lambda m: cvae.sample(m, Y, generator=1), InputTypeError, r"manual_seed\(1\)"),
    (lambda m: cvae.train(m, X, steps=1, device="cpu"), InputTypeError, r"data must be a pair \(images, labels\)"),
    (lambda m: cvae.train(m, (X, Y, Y), steps=1, device="cpu"), InputTypeError, r"data must be a pair"),
    (lambda m: cvae.train(m, (X, Y), steps=1, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: cvae.train_step(m, X, Y, {}), InputTypeError, r"optimizers must be the dict \{'cvae': \.\.\.\}"),
    (lambda m: cvae.build(TINY, device="gpu"), DeviceError, r"Unknown device 'gpu'"),
    (lambda m: cvae.build(cvae.CVAEConfig), InputTypeError, r"config must be a CVAEConfig"),
    (lambda m: cvae.sample(torch.nn.Linear(1, 1), Y), InputTypeError, r"model must be a CVAE"),
    (lambda m: cvae.train(torch.nn.Linear(1, 1), (X, Y)), InputTypeError, r"model must be a CVAE"),
    (lambda m: m.decode(torch.zeros(4, 3), Y), InputError, r"z must have shape \(B, 2\), got \(4, 3\)"),
], ids=["sample empty", "sample generator", "train images only", "train triple", "train device",
        "train_step optimizers", "build device", "build config class", "sample model", "train model", "decode z"])
def test_other_entries(call, error, match):
    with pytest.raises(error, match=match):
        call(_model())


@pytest.mark.parametrize("field, value, error, match", [
    ("latent_dim", 0, InputError, r"CVAEConfig\.latent_dim must be a whole number >= 1"),
    ("batch_size", -4, InputError, r"CVAEConfig\.batch_size must be a whole number >= 1"),
    ("steps", 0, InputError, r"CVAEConfig\.steps must be a whole number >= 1"),
    ("shift", 1.5, InputTypeError, r"CVAEConfig\.shift must be a whole number >= 0"),
    ("beta", float("inf"), InputError, r"CVAEConfig\.beta must be a finite number >= 0"),
    ("lr", -1.0, InputError, r"CVAEConfig\.lr must be a finite number >= 0"),
])
def test_config(field, value, error, match):
    with pytest.raises(error, match=match):
        cvae.CVAEConfig(**{field: value})


# ---- issue 13, probe findings
def test_train_step_checks_the_values_of_its_batch():
    model = _model()
    with pytest.raises(InputError, match=r"x contains NaN or infinite values .* NaN in the data"):
        cvae.train_step(model, X.clone().fill_(float("nan")), Y, _opt(model))
    with pytest.raises(InputError, match=r"x must have values in \[0, 1\].*divide them by 255"):
        cvae.train_step(model, X * 255, Y, _opt(model))


@pytest.mark.parametrize("entry", ["train", "train_step", "sample"])
def test_a_model_with_nan_weights_is_refused(entry):
    model = _model()
    with torch.no_grad():
        model.decoder[0].weight.fill_(float("nan"))
    call = {"train": lambda: cvae.train(model, (X, Y), steps=1, device="cpu"),
            "train_step": lambda: cvae.train_step(model, X, Y, _opt(model)),
            "sample": lambda: cvae.sample(model, Y)}[entry]
    with pytest.raises(InputError, match=r"the model's weights contain NaN/inf \(it diverged earlier .*"
                                         r"minigen\.cvae\.build\(\.\.\.\) or load a good checkpoint"):
        call()


def test_elbo_fn_must_be_callable():
    model = _model()
    with pytest.raises(InputTypeError, match=r"elbo_fn must be a function elbo_fn\(model, x, labels"):
        cvae.train_step(model, X, Y, _opt(model), elbo_fn="x")
    with pytest.raises(InputTypeError, match=r"elbo_fn must be a function"):
        cvae.train(model, (X, Y), steps=1, device="cpu", elbo_fn=3)


def test_config_caps_network_sizes():
    with pytest.raises(InputError, match=r"CVAEConfig\.hidden must be <= 16384 \(a sane maximum"):
        cvae.CVAEConfig(hidden=10**12)


def test_conditional_elbo_checks_the_range_of_x_even_with_gradients_on():
    # the network's outputs carry a gradient, which turns off vae.elbo's value checks; x does not
    model = cvae.build(device="cpu")
    assert next(model.parameters()).requires_grad
    with pytest.raises(InputError, match=r"x must have values in \[0, 1\], got \[.*, 255\]\. If they are grey "
                                         r"levels 0\.\.255, divide them by 255"):
        cvae.conditional_elbo(model, torch.ones(2, 1, 28, 28) * 255, torch.tensor([0, 1]))
    assert torch.isfinite(cvae.conditional_elbo(model, torch.ones(2, 1, 28, 28), torch.tensor([0, 1])).elbo)
