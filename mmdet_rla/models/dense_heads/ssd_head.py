"""mmdet 3.3's SSD head, able to predict.

mmdet 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls`` (for v3det's custom
losses), which :class:`~mmdet.models.dense_heads.SSDHead` never sets: it skips ``AnchorHead.__init__``
because its classification loss is a hand-written softmax cross-entropy with hard negative mining.
Validation, testing and inference of every SSD/SSDLite config then fail with
``AttributeError: 'SSDHead' object has no attribute 'loss_cls'`` (open-mmlab/mmdetection issues
#11063 and #11780; fix proposed in pull request #11524, not released).
"""

from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS


@MODELS.register_module()
class FixedSSDHead(SSDHead):
    """:class:`~mmdet.models.dense_heads.SSDHead` with ``loss_cls = None``, so that prediction takes
    the softmax scores, as SSD did before mmdet 3.3. Same arguments, parameters and losses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_cls = None  # no loss module: the custom-channel branch of the prediction is skipped
