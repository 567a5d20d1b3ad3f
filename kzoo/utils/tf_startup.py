"""TensorFlow without its start-up log.

TensorFlow's native libraries print a dozen lines to the process's stderr when they load (oneDNN,
CUDA stubs, CPU features, `cuInit` on machines without a GPU) -- before `absl` logging is set up, so
`TF_CPP_MIN_LOG_LEVEL` does not silence them. `import kzoo` installs an import hook (`install`):
the first `import tensorflow` of the process, whoever makes it, runs with file descriptor 2
pointed at a temporary file, and every line that is not one of those known notices is written back
to stderr afterwards; TensorFlow's INFO lines are off unless TF_CPP_MIN_LOG_LEVEL says otherwise. A
TensorFlow imported before kzoo is left alone. `KZOO_TF_LOG=1` turns the filter off.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

TF_LOG_ENV = "KZOO_TF_LOG"
_STARTUP = re.compile(
    r"(All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cudart_stub\.cc:\d+\]"
    r"|cpu_feature_guard\.cc:\d+\]"
    r"|To enable the following instructions:"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|cuda_executor\.cc:\d+\]"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning)"
)


def install() -> None:
    """Filter the start-up notices of the first `import tensorflow` (no-op if already imported
    or if KZOO_TF_LOG is set)."""
    if "tensorflow" in sys.modules or os.environ.get(TF_LOG_ENV, "") not in ("", "0"):
        return
    # TensorFlow's INFO lines (buffer sizes, ...) are not for kzoo's users; warnings still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one use: later lookups go the normal way
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with _filtered_stderr():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # cuInit happens here, not at import


class _filtered_stderr:
    """Point descriptor 2 at a temporary file; write back what is not a start-up notice."""

    def __enter__(self):
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
        except (OSError, ValueError):  # no usable descriptor 2 (an embedded interpreter)
            self.saved = None
            return self
        self.captured = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self.captured.fileno(), 2)
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            return False
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.captured.seek(0)
        text = self.captured.read().decode("utf-8", "replace")
        self.captured.close()
        kept = [line for line in text.splitlines(keepends=True) if not _STARTUP.search(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
        return False
