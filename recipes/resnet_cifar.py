"""ResNet on CIFAR-10, trained as He et al. (2015) train it (Section 4.2).

"We use a weight decay of 0.0001 and momentum of 0.9 ... These models are trained with a mini-batch
size of 128 ... We start with a learning rate of 0.1, divide it by 10 at 32k and 48k iterations,
and terminate training at 64k iterations, which is determined on a 45k/5k train/val split. We follow
the simple data augmentation in [24] for training: 4 pixels are padded on each side, and a 32x32
crop is randomly sampled from the padded image or its horizontal flip."

In epochs of the 45k training images (352 steps of 128): 64k iterations = 182 epochs, the decays
at 32k and 48k = epochs 91 and 136 (50% and 75% of training). Weight decay is an L2 penalty on
the kernels (gradient 1e-4 * W). Published test errors: ResNet-20 8.75%, -32 7.51%, -44 7.17%,
-56 6.97%, -110 6.43%.

    python recipes/resnet_cifar.py --model resnet56          # downloads CIFAR-10 via TFDS once
    python recipes/resnet_cifar.py --smoke                   # seconds, offline
    python recipes/resnet_cifar.py --smoke --tune --max-trials 2 --trial-epochs 1   # search, retrain
"""

from __future__ import annotations

import argparse
import sys

from kzoo.training import train
from kzoo.training.cli_args import add_train_args, config_from_args
from kzoo.training.summary import format_table
from kzoo.tuning.command import add_tune_arguments, pop_tune_args, run_recipe_tuning

PAPER = dict(
    model="resnet20",
    dataset="cifar10",
    validation_split=0.1,  # 45k / 5k
    batch_size=128,
    optimizer="momentum",
    momentum=0.9,
    learning_rate=0.1,
    schedule="multistep",
    gamma=0.1,  # divide by 10
    epochs=182,  # 64k iterations
    weight_decay=1e-4,
    weight_decay_mode="l2",
    augment=True,  # pad 4, random 32x32 crop, horizontal flip
)
MILESTONES = (0.5, 0.75)  # 32k and 48k of 64k iterations
# The same family at its smallest, on offline data, for a few steps.
SMOKE = dict(
    dataset="digits", augment=None, epochs=2, batch_size=32, max_steps_per_epoch=3, verbose=2
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_tune_arguments(parser, with_model=False)
    args = add_train_args(parser, PAPER).parse_args(argv)
    tuning = pop_tune_args(args)
    config = config_from_args(
        args, PAPER, recipe="resnet_cifar", smoke=SMOKE, milestone_fractions=MILESTONES
    )
    if tuning.tune:
        return run_recipe_tuning(tuning, config)
    result = train(config)
    print(format_table([{"run_dir": config.run_dir, **_summary(result.metrics)}]))
    return 0


def _summary(metrics: dict) -> dict:
    keys = ("model", "dataset", "epochs_run", "test_accuracy", "test_loss", "trainable_params")
    return {k: metrics[k] for k in keys} | {"test_error_%": 100 * (1 - metrics["test_accuracy"])}


if __name__ == "__main__":
    sys.exit(main())
