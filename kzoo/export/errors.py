"""Why an export published nothing."""


class ExportVerificationError(RuntimeError):
    """The reloaded SavedModel does not reproduce the in-memory model; nothing was published."""


class TFLiteMismatchError(ExportVerificationError):
    """The converted TFLite model does not reproduce the SavedModel; nothing was published."""
