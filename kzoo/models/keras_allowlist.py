"""What a `.keras` config may name, by meaning: the parts of a model and nothing else.

Keras resolves every `{"module", "class_name", "registered_name"}` entry of a config to a Python
object and calls it (a class's `from_config`, a function as an activation or loss). Its safe mode
keeps a deny-list of loaders and switches; kzoo instead allows only the namespaces that hold model
parts -- layers, activations, initializers, regularizers, constraints, losses, metrics, optimizers --
plus the model classes, dtype policies and kzoo's own registered objects. So `keras.config`,
`keras.distribution`, `keras.utils`, `keras.saving`, `keras.models`, `keras.backend`, `keras.ops` and
every other Keras-internal module are refused, whatever function they hold, as is any name that is
not a part (`get`, `serialize`, `deserialize`, private names) and any layer that runs or loads code.
"""

from __future__ import annotations

FAMILIES = (
    "layers", "activations", "initializers", "regularizers", "constraints", "losses", "metrics",
    "optimizers",
)
# Families whose plain functions a config may name (an activation, a loss, a metric...).
FUNCTION_FAMILIES = (
    "activations", "initializers", "regularizers", "constraints", "losses", "metrics",
)
MODEL_CLASSES = ("Functional", "Sequential", "Model")
# Where Keras itself records its model classes (the public ones under `keras`, Functional under its
# source module).
MODEL_MODULES = ("keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model")
DTYPE_POLICY_CLASSES = (
    "DTypePolicy", "FloatDTypePolicy", "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
    "GPTQDTypePolicy", "DTypePolicyMap",
)
DTYPE_POLICY_MODULES = ("keras", "keras.dtype_policies", "keras.mixed_precision")
# Layers that run Python code or load graphs and files from elsewhere: a model zoo needs none.
REFUSED_CLASSES = (
    "Lambda", "__lambda__", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer",
)
# Keras' markers for values that are data, not objects.
DATA_MARKERS = ("__keras_tensor__", "__tensor__", "__numpy__")
# Module-level helpers of the families: they build objects from configs, they are not parts.
NOT_PARTS = ("get", "serialize", "deserialize")
# Config keys that hold a file path when they hold a string (a lookup layer's vocabulary file...).
PATH_KEYS = ("filepath", "vocabulary", "idf_weights")
ALLOWED = (
    "keras.{" + ",".join(FAMILIES) + "}, Keras' model classes and dtype policies, and kzoo's "
    "registered objects"
)


def _is_private(name: str) -> bool:
    return name.startswith("_")


def module_problem(module, class_name, is_function: bool) -> str | None:
    """Why `module` may not be referenced (None when it may)."""
    if not isinstance(module, str):
        return "not a module name"
    parts = module.split(".")
    if parts[0] == "kzoo":
        return None  # resolved through kzoo's registered names only (checked with registered_name)
    if parts[0] != "keras":
        return "outside keras and kzoo"
    if any(not p or _is_private(p) for p in parts[1:]):
        return "a private module"
    if not is_function and class_name in DTYPE_POLICY_CLASSES and (
        module in DTYPE_POLICY_MODULES or module.startswith("keras.src.dtype_policies.")
    ):
        return None
    if not is_function and class_name in MODEL_CLASSES and module in ("keras", *MODEL_MODULES):
        return None
    rest = parts[2:] if parts[1:2] == ["src"] else parts[1:]
    family = rest[0] if rest else None
    if family in FAMILIES:
        if is_function and family not in FUNCTION_FAMILIES:
            return f"keras.{family} holds no functions a model may name"
        return None
    where = f"keras.{family}" if family else module
    return f"{where} is not a namespace a model may reference (allowed: {ALLOWED})"


def find_unsafe_entries(config, registered=None) -> list[str]:
    """Describe every entry of a `.keras` config that a kzoo model may not name; empty when safe.

    Args:
        config: the parsed `config.json`.
        registered: the names kzoo has registered with Keras (`kzoo>Name`); when given, a
            `registered_name` of kzoo's must be one of them.
    """
    problems: list[str] = []

    def refuse(where, field, value, rule):
        problems.append(f"{where}: {field}={value!r} ({rule})")

    def check_object(node, where):
        class_name = node.get("class_name")
        is_function = class_name == "function"
        if "class_name" in node:
            if not isinstance(class_name, str):
                refuse(where, "class_name", class_name, "not a name")
                return
            if class_name in REFUSED_CLASSES:
                refuse(where, "class_name", class_name, "runs or loads code from outside the file")
            elif class_name.startswith("__") and class_name not in DATA_MARKERS:
                refuse(where, "class_name", class_name, "a Keras marker a kzoo model never holds")
            elif class_name in NOT_PARTS or (_is_private(class_name) and class_name not in DATA_MARKERS):
                refuse(where, "class_name", class_name, "not a part of a model")
        name = node.get("config") if is_function else class_name
        if is_function and (not isinstance(name, str) or name in NOT_PARTS or _is_private(name)):
            refuse(where, "config", name, "not a function a model may name")
        if "module" in node and node["module"] is not None:
            rule = module_problem(node["module"], class_name, is_function)
            if rule:
                refuse(where, "module", node["module"], rule)
        registered_name = node.get("registered_name")
        if registered_name is not None:
            rule = _registered_problem(registered_name, name, node.get("module"), registered)
            if rule:
                refuse(where, "registered_name", registered_name, rule)

    def walk(node, where):
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
            return
        if not isinstance(node, dict):
            return
        if any(k in node for k in ("class_name", "module", "registered_name")):
            check_object(node, where)
        function = node.get("function")
        if function is not None and not isinstance(function, dict):
            refuse(where, "function", function, "names Python code by path")
        for key in PATH_KEYS:
            if isinstance(node.get(key), str):
                refuse(where, key, node[key], "a file path: loading would read that file")
        for key, value in node.items():
            walk(value, f"{where}.{key}")

    walk(config, "config")
    return problems


def _registered_problem(registered_name, name, module, registered) -> str | None:
    if not isinstance(registered_name, str):
        return "not a name"
    if ">" not in registered_name:
        # Keras' own objects record their plain name (or none); a bare name is looked up among
        # registered objects, which hold kzoo's under `kzoo>`.
        return None if registered_name == name else "not the name of the object it describes"
    package = registered_name.split(">", 1)[0]
    if package != "kzoo":
        return "not a kzoo object"
    if isinstance(module, str) and module.split(".")[0] != "kzoo":
        return "a kzoo object recorded under another module"
    if registered is not None and registered_name not in registered:
        return "not an object kzoo registers"
    return None
