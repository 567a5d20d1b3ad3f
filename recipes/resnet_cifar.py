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

import sys

from kzoo.recipe import run_recipe

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
    return run_recipe(__doc__, PAPER, recipe="resnet_cifar", smoke=SMOKE,
                      milestone_fractions=MILESTONES, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
