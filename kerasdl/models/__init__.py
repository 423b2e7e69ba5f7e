"""Architecture families. Importing this package registers every builder."""

from kerasdl.models import classic_cnn  # noqa: F401  lenet5, alexnet, vgg*
from kerasdl.models import densenet  # noqa: F401
from kerasdl.models import efficientnet  # noqa: F401
from kerasdl.models import inception  # noqa: F401  googlenet, inception_v3
from kerasdl.models import mlp  # noqa: F401  perceptron, mlp
from kerasdl.models import mobilenet  # noqa: F401  mobilenet v1/v2
from kerasdl.models import resnet  # noqa: F401  v1, v2, cifar
from kerasdl.models import segmentation  # noqa: F401  unet, fcn
from kerasdl.models import transfer  # noqa: F401  transfer learning
