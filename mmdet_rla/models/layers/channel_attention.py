"""Channel attention used inside the residual branch: SE (Hu et al.) and ECA (Wang et al.)."""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...utils import check_choice, check_positive_int

CHANNEL_ATTENTIONS = (None, 'se', 'eca')


def global_average(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C)`` channel means, as an adaptive average pool.

    The same function as ``x.mean(dim=(2, 3))``, written as the pool that the RLA-Net, SE and ECA
    authors' code uses, so that FLOP counters (fvcore, mmengine) count it as they count theirs.
    """
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class SELayer(nn.Module):
    """Squeeze-and-Excitation: ``x * sigmoid(W2 relu(W1 avgpool(x)))``.

    The two fully connected layers carry no bias, as in the RLA-Net authors' code, so their
    released SE weights load directly.

    Args:
        channels: Channels of the input feature map.
        reduction: Ratio between ``channels`` and the hidden width.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        check_positive_int('reduction', reduction)
        hidden = max(channels // reduction, 1)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(global_average(x))
        return x * weights[:, :, None, None]


class ECALayer(nn.Module):
    """Efficient Channel Attention: a 1-D convolution across the pooled channel descriptor.

    Args:
        kernel_size: Odd width of the 1-D convolution across channels.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        check_positive_int('eca_kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f'eca_kernel_size must be odd, got {kernel_size}')
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptor = global_average(x)[:, None, :]  # (N, 1, C): channels as a 1-D sequence
        weights = torch.sigmoid(self.conv(descriptor))[:, 0, :, None, None]
        return x * weights


def build_channel_attention(
    kind: Optional[str], channels: int, *, se_reduction: int = 16, eca_kernel_size: int = 3
) -> Optional[nn.Module]:
    """Return the channel attention module named by ``kind`` (``None``, ``'se'`` or ``'eca'``)."""
    check_choice('channel_attention', kind, CHANNEL_ATTENTIONS)
    if kind == 'se':
        return SELayer(channels, se_reduction)
    if kind == 'eca':
        return ECALayer(eca_kernel_size)
    return None
