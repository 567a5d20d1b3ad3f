"""The serving contract's names and dtypes (no TensorFlow needed to read them)."""

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "inputs"
OUTPUT_NAMES = ("probabilities", "class_id")
RAW_DTYPES = (
    "uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64"
)
# Where a version keeps its TensorFlow Lite model (`kzoo export --tflite`).
TFLITE_FILE = "assets.extra/model.tflite"
