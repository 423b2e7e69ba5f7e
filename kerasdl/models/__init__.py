"""Architecture families. Importing this package registers every builder."""

from kerasdl.models import (
    classic_cnn,  # noqa: F401  lenet5, alexnet, vgg*
    densenet,  # noqa: F401
    detection,  # noqa: F401  fcos (anchor-free detector)
    efficientnet,  # noqa: F401
    forecasting,  # noqa: F401  lstm/gru/cnn/transformer forecasters
    generative,  # noqa: F401  autoencoders, vae, gans, ddpm
    graph,  # noqa: F401  gcn, graphsage, gat, graph_classifier
    hub,  # noqa: F401  keras-hub adapters: hub_bert, hub_gpt2, hub_t5, hub_vit
    inception,  # noqa: F401  googlenet, inception_v3
    mlp,  # noqa: F401  perceptron, mlp
    mobilenet,  # noqa: F401  mobilenet v1/v2
    nerf,  # noqa: F401  neural radiance fields
    resnet,  # noqa: F401  v1, v2, cifar
    rnn,  # noqa: F401  rnn/lstm/gru classifiers, regressors, taggers
    segmentation,  # noqa: F401  unet, fcn
    seq2seq,  # noqa: F401  encoder-decoder with attention
    spiking,  # noqa: F401  spiking_mlp, spiking_cnn
    transfer,  # noqa: F401  transfer learning
    transformer,  # noqa: F401  bert, gpt, t5
    vit,  # noqa: F401  vision transformer
)
