"""Wide ResNet on CIFAR, trained as Zagoruyko & Komodakis (2016) train it (Section 3).

"In all our experiments we use SGD with Nesterov momentum and cross-entropy loss. The initial
learning rate is set to 0.1, weight decay to 0.0005, dampening to 0, momentum to 0.9 and minibatch
size to 128. On CIFAR learning rate dropped by 0.2 at 60, 120 and 160 epochs and we train for
total 200 epochs." Augmentation: random crops of the 4-pixel padded image and horizontal flips
(the paper pads by reflection; kzoo's pipeline pads with zeros). Dropout between the two
convolutions of each block is an option (`--dropout 0.3`, the paper's value). Training uses all 50k
images (no validation split), as the paper reports the final test error.

Published CIFAR-10 / CIFAR-100 test errors: WRN-16-8 4.27% / 20.43%, WRN-28-10 4.00% / 19.25%,
WRN-28-10 with dropout 0.3 3.89% / 18.85%.

    python recipes/wrn_cifar.py --model wrn_28_10 --dropout 0.3 --dataset cifar100
    python recipes/wrn_cifar.py --smoke
    python recipes/wrn_cifar.py --smoke --tune --max-trials 2 --trial-epochs 1   # search, retrain
"""

import sys

from kzoo.recipe import run_recipe

PAPER = dict(
    model="wrn_28_10",
    dataset="cifar10",
    validation_split=0.0,
    batch_size=128,
    optimizer="nesterov",
    momentum=0.9,
    learning_rate=0.1,
    schedule="multistep",
    gamma=0.2,
    epochs=200,
    weight_decay=5e-4,
    weight_decay_mode="l2",
    augment=True,
)
MILESTONES = (0.3, 0.6, 0.8)  # epochs 60, 120, 160 of 200
SMOKE = dict(
    model="wrn_16_4",
    dataset="digits",
    augment=None,
    epochs=2,
    batch_size=32,
    max_steps_per_epoch=3,
    verbose=2,
)


def main(argv=None) -> int:
    # --dropout (the paper's 0.3 with k=10) is a builder argument; with --tune it is where the
    # search starts.
    return run_recipe(__doc__, PAPER, recipe="wrn_cifar", smoke=SMOKE,
                      milestone_fractions=MILESTONES, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
