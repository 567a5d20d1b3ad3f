"""Fine-tuning (transfer learning): start from trained weights and learn a new task.

As Keras' transfer-learning guide does it: the network starts from weights trained on another
task; its classifier is new (another task, or other classes); the layers below it -- the backbone
-- learn at a tenth of the learning rate (discriminative learning rates, --backbone-lr-mult), or
not at all with --freeze backbone, which also keeps their batch normalisation in inference mode.
The source may be a finished run directory, a .keras / .weights.h5 file, an exported SavedModel or
registered weights (kzoo's own: ResNet-20 trained on digits 0-4, plain CNN on MNIST-1D).

The default: ResNet-20 trained on the digits 0-4 (registered as `digits_0to4`; its model card
holds the command that trained it) learns the digits 5-9, which it has never seen.

    python recipes/finetune.py                                   # a minute on 2 CPU cores
    python recipes/finetune.py --freeze backbone --lr 3e-3       # only the new classifier learns
    python recipes/finetune.py --init-from runs/train/resnet20-digits_0to4 --validation-split 0.9
    python recipes/finetune.py --smoke                           # seconds
"""

import sys

from kzoo.recipe import run_recipe

PAPER = dict(
    model="resnet20",
    dataset="digits_5to9",
    init_from="digits_0to4",  # registered weights of resnet20 (kzoo.models.weights_registry)
    validation_split=0.1,
    epochs=10,
    batch_size=32,
    optimizer="adam",
    learning_rate=1e-3,
    schedule="cosine",
    backbone_lr_multiplier=0.1,
)
SMOKE = dict(epochs=1, max_steps_per_epoch=3, verbose=2)


def main(argv=None) -> int:
    return run_recipe(__doc__, PAPER, recipe="finetune", smoke=SMOKE, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
