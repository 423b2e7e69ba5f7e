"""Why a model predicts what it does: attributions, attention and filters.

- Gradients and perturbations (`kerasdl.explain.gradients`): `saliency`,
  `smoothgrad`, `integrated_gradients`, `grad_cam`, `grad_cam_plus_plus`,
  `occlusion`, and `find_conv_layer` (the feature map Grad-CAM weighs).
- Attention (`kerasdl.explain.attention`): `vit_attention` (per-block
  probabilities and the rollout map), `seq2seq_attention`.
- Filters (`kerasdl.explain.filters`): `feature_maps`, `filter_patterns`
  (activation maximization); `kerasdl.viz.plot_feature_maps`,
  `plot_image_grid` and `plot_heatmaps` draw them and the attribution maps.

Every function runs on TensorFlow, JAX and PyTorch (the gradients come
from `kerasdl._backend.input_gradients`) and returns NumPy arrays.

Example:
>>> from kerasdl import explain
>>> heat = explain.grad_cam(model, images[:8])  # (8, H, W) in [0, 1]
"""

from kerasdl.explain import attention, filters, gradients
from kerasdl.explain.attention import seq2seq_attention, vit_attention  # noqa: F401
from kerasdl.explain.filters import feature_maps, filter_patterns  # noqa: F401

# Re-exported: the public names are listed once, in each module's __all__.
from kerasdl.explain.gradients import (  # noqa: F401
    find_conv_layer,
    grad_cam,
    grad_cam_plus_plus,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)

__all__ = [*attention.__all__, *filters.__all__, *gradients.__all__]
