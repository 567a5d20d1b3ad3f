"""Keras' process-wide settings, snapshotted before a model is loaded and compared after it.

Loading a model builds its layers and calls them on symbolic inputs. A part that passes the
allow-list should never change a setting for everything that runs afterwards (the epsilon, the float
type, the dtype policy, the distribution, the safe-mode flag, the registered objects...); if one
does, `load_keras` puts every setting back and refuses the file.
"""

from __future__ import annotations


def _settings() -> dict:
    import keras

    from kzoo import keras_private

    global_state = keras_private.global_state()
    object_registration = keras_private.object_registration()
    config = keras.config
    return {
        "backend": config.backend(),
        "epsilon": config.epsilon(),
        "floatx": config.floatx(),
        "image_data_format": config.image_data_format(),
        "dtype_policy": config.dtype_policy(),
        "max_epochs": config.max_epochs(),
        "max_steps_per_epoch": config.max_steps_per_epoch(),
        "flash_attention": global_state.get_global_attribute("flash_attention"),
        "interactive_logging": config.is_interactive_logging_enabled(),
        "traceback_filtering": config.is_traceback_filtering_enabled(),
        "nnx_enabled": config.is_nnx_enabled(),
        "distribution": keras.distribution.distribution(),
        "safe_mode_saving": global_state.get_global_attribute("safe_mode_saving"),
        "registered_objects": dict(object_registration.GLOBAL_CUSTOM_OBJECTS),
        "registered_names": dict(object_registration.GLOBAL_CUSTOM_NAMES),
    }


def snapshot() -> dict:
    """Keras' process-wide settings now."""
    return _settings()


def changed_settings(before: dict) -> list[str]:
    """The names of the settings that differ from `before` (identity for objects)."""
    after = _settings()
    changed = []
    for key, old in before.items():
        new = after[key]
        if isinstance(old, dict):
            same = old.keys() == new.keys() and all(old[k] is new[k] for k in old)
        elif isinstance(old, (str, int, float, bool, type(None))):
            same = type(old) is type(new) and old == new
        else:
            same = old is new
        if not same:
            changed.append(key)
    return changed


def restore(before: dict) -> None:
    """Put every setting back as `snapshot()` found it (the backend cannot change in place)."""
    import keras

    from kzoo import keras_private

    global_state = keras_private.global_state()
    object_registration = keras_private.object_registration()
    config = keras.config
    config.set_epsilon(before["epsilon"])
    config.set_floatx(before["floatx"])
    config.set_image_data_format(before["image_data_format"])
    config.set_dtype_policy(before["dtype_policy"])
    config.set_max_epochs(before["max_epochs"])
    config.set_max_steps_per_epoch(before["max_steps_per_epoch"])
    global_state.set_global_attribute("flash_attention", before["flash_attention"])
    (config.enable_interactive_logging if before["interactive_logging"]
     else config.disable_interactive_logging)()
    (config.enable_traceback_filtering if before["traceback_filtering"]
     else config.disable_traceback_filtering)()
    global_state.set_global_attribute("nnx_enabled", before["nnx_enabled"])
    keras.distribution.set_distribution(before["distribution"])
    global_state.set_global_attribute("safe_mode_saving", before["safe_mode_saving"])
    for registry, key in (
        (object_registration.GLOBAL_CUSTOM_OBJECTS, "registered_objects"),
        (object_registration.GLOBAL_CUSTOM_NAMES, "registered_names"),
    ):
        registry.clear()
        registry.update(before[key])
