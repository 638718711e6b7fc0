"""minigen: tested reference implementations for the book *Image generation with GANs, VAEs and
CycleGANs*.

Modules, in the order of the book: :mod:`minigen.utils` (device, seeds), :mod:`minigen.data`,
:mod:`minigen.plotting`, :mod:`minigen.checkpoint`, :mod:`minigen.metrics`,
:mod:`minigen.training` (the contract the four model families share), :mod:`minigen.gan`,
:mod:`minigen.vae`, :mod:`minigen.cyclegan`, :mod:`minigen.cvae` (class-conditional VAE, used
by the chapter on image extension) and :mod:`minigen.cli` (``python -m minigen``). Import the
module you need, e.g. ``from minigen import gan``.
"""
import importlib.metadata as _metadata

try:  # the one place the version is written is pyproject.toml; installed metadata carries it
    __version__ = _metadata.version("minigen")
except _metadata.PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"


def release_tag() -> str:
    """The git tag of this release, ``v`` + the version: what the chapters' Colab cell installs."""
    return f"v{__version__}"


from minigen.utils import get_device, seed_everything  # noqa: E402  (light, no side effects)

__all__ = ["__version__", "get_device", "release_tag", "seed_everything"]
