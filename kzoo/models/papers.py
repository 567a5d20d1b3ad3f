"""The papers kzoo's models come from, cited once (registry entries and docstrings refer to these)."""

GLOROT_2010 = (
    "Glorot, Bengio. Understanding the difficulty of training deep feedforward neural networks. "
    "AISTATS 2010"
)
GOODFELLOW_2013 = (
    "Goodfellow, Warde-Farley, Mirza, Courville, Bengio. Maxout Networks. ICML 2013 (arXiv:1302.4389)"
)
SRIVASTAVA_2015 = (
    "Srivastava, Greff, Schmidhuber. Training Very Deep Networks. NeurIPS 2015 (arXiv:1507.06228)"
)
HE_2015 = (
    "He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016 (arXiv:1512.03385)"
)
HE_2016 = (
    "He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. ECCV 2016 (arXiv:1603.05027)"
)
ZAGORUYKO_2016 = "Zagoruyko, Komodakis. Wide Residual Networks. BMVC 2016 (arXiv:1605.07146)"
HUANG_2017 = (
    "Huang, Liu, van der Maaten, Weinberger. Densely Connected Convolutional Networks. CVPR 2017"
)
KLAMBAUER_2017 = (
    "Klambauer, Unterthiner, Mayr, Hochreiter. Self-Normalizing Neural Networks. NeurIPS 2017 "
    "(arXiv:1706.02515)"
)
HU_2018 = "Hu, Shen, Sun. Squeeze-and-Excitation Networks. CVPR 2018 (arXiv:1709.01507)"
HOCHREITER_1997 = "Hochreiter, Schmidhuber. Long Short-Term Memory. Neural Computation 1997"
KALCHBRENNER_2015 = (
    "Kalchbrenner, Danihelka, Graves. Grid Long Short-Term Memory. ICLR 2016 (arXiv:1507.01526)"
)
GREYDANUS_2020 = "Greydanus. Scaling down Deep Learning. 2020 (arXiv:2011.14439)"
XIE_2017 = (
    "Xie, Girshick, Dollar, Tu, He. Aggregated Residual Transformations for Deep Neural Networks. "
    "CVPR 2017 (arXiv:1611.05431)"
)
SIMONYAN_2015 = (
    "Simonyan, Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition. "
    "ICLR 2015 (arXiv:1409.1556)"
)
LI_2017 = (
    "Li, Kadav, Durdanovic, Samet, Graf. Pruning Filters for Efficient ConvNets. ICLR 2017 "
    "(arXiv:1608.08710)"
)
HOWARD_2017 = (
    "Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam. MobileNets: Efficient "
    "Convolutional Neural Networks for Mobile Vision Applications. 2017 (arXiv:1704.04861)"
)
SANDLER_2018 = (
    "Sandler, Howard, Zhu, Zhmoginov, Chen. MobileNetV2: Inverted Residuals and Linear "
    "Bottlenecks. CVPR 2018 (arXiv:1801.04381)"
)
TAN_2019 = (
    "Tan, Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks. ICML 2019 "
    "(arXiv:1905.11946)"
)
