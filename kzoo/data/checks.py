"""Does a dataset fit a model? Fail early, with both shapes, instead of deep inside `fit`."""

from __future__ import annotations


def _model_input_shape(model) -> tuple:
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ValueError(
                f"`model` must have a single input to take a kzoo dataset; it has {len(shape)}."
            )
        shape = shape[0]
    return tuple(shape[1:])


def check_input_shape(info, model) -> None:
    """Raise ValueError unless examples of shape `info.input_shape` fit `model`'s input.

    `None` dimensions of the model's input accept any size.

    Args:
        info: a `DatasetInfo` (anything with `name` and `input_shape`).
        model: a built `keras.Model`.

    Example:
        >>> bundle = kzoo.data.load("digits")
        >>> check_input_shape(bundle.info, kzoo.create_model("resnet20"))
        ValueError: Dataset 'digits' has examples of shape (8, 8, 1) but model 'resnet20' expects ...
    """
    expected = _model_input_shape(model)
    given = tuple(info.input_shape)
    fits = len(expected) == len(given) and all(
        e is None or e == g for e, g in zip(expected, given, strict=True)
    )
    if not fits:
        raise ValueError(
            f"Dataset {info.name!r} has examples of shape {given} but model {model.name!r} expects "
            f"inputs of shape {expected} (batch axis omitted). Build the model with "
            f"input_shape={given}."
        )
