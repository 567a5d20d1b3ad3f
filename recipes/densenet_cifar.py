"""DenseNet on CIFAR, trained as Huang et al. (2017) train it (Section 4.2).

"All the networks are trained using stochastic gradient descent (SGD). On CIFAR and SVHN we train
using batch size 64 for 300 and 40 epochs, respectively. The initial learning rate is set to 0.1,
and is divided by 10 at 50% and 75% of the total number of training epochs. ... We use a weight
decay of 10^-4 and a Nesterov momentum of 0.9 without dampening. ... For the three datasets
without data augmentation, i.e., C10, C100 and SVHN, we add a dropout layer after each
convolutional layer (except the first one) and set the dropout rate to 0.2."
The final runs use all 50k training images (no validation split); "C10+" is the standard
augmentation (random crops of the 4-pixel padded image, horizontal flips). With `--no-augment`
the recipe sets dropout 0.2 as the paper does.

Published CIFAR-10+ / CIFAR-100+ test errors: DenseNet (L=40, k=12) 5.24% / 24.42%,
DenseNet-BC (L=100, k=12) 4.51% / 22.27%.

    python recipes/densenet_cifar.py --model densenet_bc_100_12
    python recipes/densenet_cifar.py --smoke
    python recipes/densenet_cifar.py --smoke --tune --max-trials 2 --trial-epochs 1   # search, retrain
"""

import sys

from kzoo.recipe import replace, run_recipe

PAPER = dict(
    model="densenet_bc_100_12",
    dataset="cifar10",
    validation_split=0.0,
    batch_size=64,
    optimizer="nesterov",
    momentum=0.9,
    learning_rate=0.1,
    schedule="multistep",
    gamma=0.1,
    epochs=300,
    weight_decay=1e-4,
    weight_decay_mode="l2",
    augment=True,
)
MILESTONES = (0.5, 0.75)
NO_AUGMENT_DROPOUT = 0.2
SMOKE = dict(
    model="densenet_40_12",
    dataset="digits",
    augment=None,
    epochs=2,
    batch_size=32,
    max_steps_per_epoch=3,
    verbose=2,
)


def paper_dropout(config):
    """The paper's dropout 0.2 after each convolution when training without augmentation (C10,
    C100, SVHN); a --dropout given on the command line wins. With --tune it is where the search
    starts."""
    if config.augment is False and "dropout" not in config.model_kwargs:
        return replace(config, model_kwargs={**config.model_kwargs, "dropout": NO_AUGMENT_DROPOUT})
    return config


def main(argv=None) -> int:
    return run_recipe(__doc__, PAPER, recipe="densenet_cifar", smoke=SMOKE,
                      milestone_fractions=MILESTONES, adjust=paper_dropout, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
