"""A 1x1 projection of ``BN(conv(u))`` computed from ``u``: the three linear maps composed into one."""

from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def is_plain_1x1(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain ``nn.Conv2d`` computing a per-pixel linear map (1x1, stride 1,
    no padding, dilation or groups)."""
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


def uses_running_stats(norm: nn.Module) -> bool:
    """Whether ``norm`` is a batch norm normalising with its running statistics (eval mode, e.g.
    mmdet's ``norm_eval=True``): then it is a fixed per-channel affine map."""
    return isinstance(norm, _BatchNorm) and not norm.training and norm.running_mean is not None


def fold_projection(
    project: nn.Module, conv: nn.Module, norm: nn.Module
) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    r"""Weight and bias of ``project(norm(conv(u)))`` as one 1x1 convolution over ``u``.

    With running statistics a batch norm is affine per channel,
    :math:`\mathrm{BN}(z) = a \odot z + b` with :math:`a = \gamma / \sqrt{\sigma^2 + \epsilon}` and
    :math:`b = \beta - \mu a`, so for 1x1 convolutions ``P`` (``k x C``) and ``W`` (``C x m``,
    bias ``c``)

    .. math::
        P\,\mathrm{BN}(W u + c) + p = (P \,\mathrm{diag}(a)\, W)\, u + P (a \odot c + b) + p,

    a ``k x m`` convolution: for RLA's ``Conv1x1_s(y)`` of a bottleneck (``y = BN3(conv3(u))``,
    ``C = 4m``) it reads the 4x narrower ``u`` with a quarter of the multiply-adds. The weight is
    recomposed at every call from the parameters, so gradients reach ``P``, ``W``, ``gamma`` and
    ``beta`` as through the three maps.

    Returns ``None`` where the composition is not one fixed linear map: ``project`` or ``conv`` not a
    plain 1x1 ``nn.Conv2d`` (:func:`is_plain_1x1`), or ``norm`` not a batch norm in eval mode
    (:func:`uses_running_stats`).
    """
    if not (is_plain_1x1(project) and is_plain_1x1(conv) and uses_running_stats(norm)):
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = norm.weight * scale
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    if conv.bias is not None:
        shift = shift + scale * conv.bias
    p = project.weight.flatten(1)  # (k, C)
    weight = (p * scale) @ conv.weight.flatten(1)  # (k, m)
    bias = p @ shift
    if project.bias is not None:
        bias = bias + project.bias
    return weight[:, :, None, None], bias
