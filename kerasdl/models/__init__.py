"""Architecture families. Importing this package registers every builder."""

from kerasdl.models import (
    classic_cnn,  # noqa: F401  lenet5, alexnet, vgg*
    densenet,  # noqa: F401
    efficientnet,  # noqa: F401
    inception,  # noqa: F401  googlenet, inception_v3
    mlp,  # noqa: F401  perceptron, mlp
    mobilenet,  # noqa: F401  mobilenet v1/v2
    resnet,  # noqa: F401  v1, v2, cifar
    segmentation,  # noqa: F401  unet, fcn
    transfer,  # noqa: F401  transfer learning
)
