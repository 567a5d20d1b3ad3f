"""The bottom layer: file helpers, argument checks, the user-error type, settings declarations.

Nothing here imports TensorFlow, Keras or any other part of kzoo.
"""
