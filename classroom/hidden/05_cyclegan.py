"""Hidden tests of chapter 5 (05_cyclegan); the format is described in 02_foundations.py."""
import dataclasses

import torch

from minigen import cyclegan, data

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _images(n, *shape, seed):
    g = _gen(seed)
    return [torch.rand(*shape, generator=g, dtype=F64) for _ in range(n)]


def _same_gradients(fn, reference, *inputs):
    grads = []
    for f in (fn, reference):
        xs = [x.detach().clone().requires_grad_() for x in inputs]
        out = f(*xs)
        assert isinstance(out, torch.Tensor) and out.dim() == 0, "must return a scalar tensor"
        grads.append(torch.autograd.grad(out, xs, allow_unused=True))
    for i, (mine, ref) in enumerate(zip(*grads)):
        assert mine is not None, f"no gradient flows to argument {i + 1}"
        torch.testing.assert_close(mine, ref, msg=lambda m: f"gradient of argument {i + 1}: {m}")


def _step(config, **losses):
    """Parameters of a CycleGAN after one train_step from a fixed start, on 8 + 8 digits."""
    model = cyclegan.build(config, seed=5)
    x, y = data.stroke_domains(seed=5)
    x, y = x[:8], y[:8]
    hx, hy = cyclegan.ImageHistory(generator=_gen(5)), cyclegan.ImageHistory(generator=_gen(6))
    cyclegan.train_step(model, x, y, cyclegan.make_optimizers(model), hx, hy, **losses)
    return [p.detach().clone() for p in model.parameters()]


def _step_matches(config, **losses):
    for mine, ref in zip(_step(config, **losses), _step(config)):
        torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-6)


def _l1(a, b):  # mean absolute difference, float64, written with a sum
    return (a - b).abs().sum() / a.numel()


# -- my_cycle_loss(x, x_cyc, y, y_cyc) -------------------------------------------------------
def cycle_other_shapes(fn):
    """float64, 3-channel 5 x 7 images, 4 of domain X and 6 of domain Y"""
    x, x_cyc = _images(2, 4, 3, 5, 7, seed=91)
    y, y_cyc = _images(2, 6, 3, 5, 7, seed=92)
    torch.testing.assert_close(fn(x, x_cyc, y, y_cyc), _l1(x_cyc, x) + _l1(y_cyc, y))


def cycle_by_hand(fn):
    """all-zero against all-one images: 1 per term; perfect round trips: 0"""
    z, o = torch.zeros(2, 1, 4, 4, dtype=F64), torch.ones(3, 1, 4, 4, dtype=F64)
    torch.testing.assert_close(fn(z, o[:2], o, z.new_zeros(3, 1, 4, 4)), torch.tensor(2.0, dtype=F64))
    torch.testing.assert_close(fn(o, o, z, z), torch.tensor(0.0, dtype=F64))


def cycle_gradient(fn):
    """its gradients (by autograd) with respect to the round trips"""
    x, x_cyc, y, y_cyc = _images(4, 3, 1, 6, 6, seed=93)
    _same_gradients(lambda a, b: fn(x, a, y, b), lambda a, b: _l1(a, x) + _l1(b, y), x_cyc, y_cyc)


def cycle_in_train_step(fn):
    """as cycle_fn of cyclegan.train_step, one step moves the CycleGAN exactly as minigen's loss does"""
    _step_matches(cyclegan.CycleGANConfig(), cycle_fn=fn)


# -- my_identity_loss(x, x_idt, y, y_idt) ----------------------------------------------------
def identity_other_shapes(fn):
    """float64, 2-channel 6 x 6 images, 5 of domain X and 3 of domain Y"""
    x, x_idt = _images(2, 5, 2, 6, 6, seed=101)
    y, y_idt = _images(2, 3, 2, 6, 6, seed=102)
    torch.testing.assert_close(fn(x, x_idt, y, y_idt), _l1(y_idt, y) + _l1(x_idt, x))


def identity_by_hand(fn):
    """a generator that leaves its own domain alone costs 0; all-zero against all-one images, 1 per term"""
    z, o = torch.zeros(2, 1, 4, 4, dtype=F64), torch.ones(2, 1, 4, 4, dtype=F64)
    torch.testing.assert_close(fn(z, z, o, o), torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(fn(z, o, o, z), torch.tensor(2.0, dtype=F64))


def identity_in_train_step(fn):
    """as identity_fn of cyclegan.train_step (lambda_id = 5), one step moves the CycleGAN as minigen's"""
    _step_matches(dataclasses.replace(cyclegan.CycleGANConfig(), lambda_id=5.0), identity_fn=fn)


# -- my_generator_objective(d_y_fake, d_x_fake, l_cyc, l_id, lambda_cyc, lambda_id) -----------
def _g_obj(dy, dx, l_cyc, l_id, lambda_cyc, lambda_id):
    # the paper's scaling: no 1/2 on the generators' least-squares terms
    return (((dy - 1) ** 2).sum() / dy.numel() + ((dx - 1) ** 2).sum() / dx.numel()
            + lambda_cyc * l_cyc + lambda_id * l_id)


def g_objective_values(fn):
    """float64, patch maps of different shapes, lambda_cyc = 3, lambda_id = 0.5 (as keywords)"""
    g = _gen(111)
    dy, dx = torch.randn(4, 1, 5, 5, generator=g, dtype=F64), torch.randn(2, 1, 3, 3, generator=g, dtype=F64)
    l_cyc, l_id = torch.rand(2, generator=g, dtype=F64)
    torch.testing.assert_close(fn(dy, dx, l_cyc, l_id, lambda_cyc=3.0, lambda_id=0.5),
                               _g_obj(dy, dx, l_cyc, l_id, 3.0, 0.5))


def g_objective_by_hand(fn):
    """outputs of exactly 1 and no reconstruction weight give 0; outputs 0 give 1 + 1 (no 1/2)"""
    ones, zeros, r = torch.ones(3, 1, 2, 2, dtype=F64), torch.zeros(3, 1, 2, 2, dtype=F64), torch.tensor(0.7, dtype=F64)
    torch.testing.assert_close(fn(ones, ones, r, r, lambda_cyc=0.0, lambda_id=0.0), torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(fn(zeros, zeros, r, r, lambda_cyc=0.0, lambda_id=0.0), torch.tensor(2.0, dtype=F64))


def g_objective_gradient(fn):
    """its gradients (by autograd) with respect to all four tensors"""
    g = _gen(112)
    args = (torch.randn(2, 1, 3, 3, generator=g, dtype=F64), torch.randn(2, 1, 3, 3, generator=g, dtype=F64),
            torch.rand((), generator=g, dtype=F64), torch.rand((), generator=g, dtype=F64))
    _same_gradients(lambda a, b, c, d: fn(a, b, c, d, lambda_cyc=10.0, lambda_id=5.0),
                    lambda a, b, c, d: _g_obj(a, b, c, d, 10.0, 5.0), *args)


# -- my_discriminator_objective(d_x_real, d_x_fake, d_y_real, d_y_fake) ------------------------
def _d_obj(xr, xf, yr, yf):
    m = lambda t: t.sum() / t.numel()  # noqa: E731
    return 0.5 * m((xr - 1) ** 2) + 0.5 * m(xf**2) + 0.5 * m((yr - 1) ** 2) + 0.5 * m(yf**2)


def d_objective_values(fn):
    """float64, four patch maps of different shapes"""
    g = _gen(121)
    maps = [torch.randn(n, 1, k, k, generator=g, dtype=F64) for n, k in [(3, 4), (5, 4), (2, 3), (6, 3)]]
    torch.testing.assert_close(fn(*maps), _d_obj(*maps))


def d_objective_by_hand(fn):
    """perfect discriminators (1 on real, 0 on fake) give 0; all outputs 0 give 1"""
    ones, zeros = torch.ones(2, 1, 3, 3, dtype=F64), torch.zeros(2, 1, 3, 3, dtype=F64)
    torch.testing.assert_close(fn(ones, zeros, ones, zeros), torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(fn(zeros, zeros, zeros, zeros), torch.tensor(1.0, dtype=F64))


def d_objective_gradient(fn):
    """its gradients (by autograd) with respect to all four patch maps"""
    g = _gen(122)
    _same_gradients(fn, _d_obj, *[torch.randn(2, 1, 3, 3, generator=g, dtype=F64) for _ in range(4)])


QUESTIONS = {
    "my_cycle_loss": {
        "points": 2, "forbidden": ["minigen.cyclegan.cycle_loss"],
        "task": "Return L_cyc of eq. (cyc-cycle): the mean absolute difference of each round trip, "
                "summed over the two domains.",
        "checks": [cycle_other_shapes, cycle_by_hand, cycle_gradient, cycle_in_train_step],
        "slow": [cycle_in_train_step]},
    "my_identity_loss": {
        "points": 2, "forbidden": ["minigen.cyclegan.identity_loss", "minigen.cyclegan.cycle_loss"],
        "task": "Return L_id of eq. (cyc-identity), with the reduction of the cycle loss.",
        "checks": [identity_other_shapes, identity_by_hand, identity_in_train_step],
        "slow": [identity_in_train_step]},
    "my_generator_objective": {
        "points": 2, "forbidden": ["minigen.cyclegan.generator_objective", "minigen.gan.lsgan_generator_loss"],
        "task": "Return the generators' objective of eq. (cyc-full-g).",
        "checks": [g_objective_values, g_objective_by_hand, g_objective_gradient]},
    "my_discriminator_objective": {
        "points": 2,
        "forbidden": ["minigen.cyclegan.discriminator_objective", "minigen.gan.lsgan_discriminator_loss"],
        "task": "Return the discriminators' objective of eq. (cyc-full-d).",
        "checks": [d_objective_values, d_objective_by_hand, d_objective_gradient]},
}
