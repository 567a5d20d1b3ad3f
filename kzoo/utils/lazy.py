"""Lazy package attributes, so `import kzoo` and the command line's start need no TensorFlow."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]):
    """`__getattr__`, `__dir__` and `__all__` for a package whose names load on first use.

    Args:
        package: the package's `__name__`.
        exports: `{module: (name, ...)}`; a name equal to the module's last part exports the
            module itself (`{"kzoo.layers": ("layers",)}`).

    Example:
        >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"kzoo.registry": ("create_model",)})
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        return loaded if module.rsplit(".", 1)[-1] == name else getattr(loaded, name)

    def __dir__():
        return sorted(set(where) | {"__version__"})

    return __getattr__, __dir__, sorted(where)
