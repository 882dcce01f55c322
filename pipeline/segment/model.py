"""A small U-Net that labels every pixel of an ECG page as background, grid, text or trace.

Sized for the CPU budget: at the working size (long side `WORKING_LONG_SIDE_PX` px, see
`pipeline.segment.preprocess`) one 200-dpi page costs well under a second on two CPU cores.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.types import SEGMENTATION_CLASSES


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of `UNet`.

    in_channels: colour channels of the input (3, RGB).
    num_classes: output channels, one per `SEGMENTATION_CLASSES` entry.
    widths: channels per level, finest first; len(widths) - 1 stride-2 poolings, so input
        height and width must be multiples of 2 ** (len(widths) - 1).
    """

    in_channels: int = 3
    num_classes: int = len(SEGMENTATION_CLASSES)
    widths: tuple[int, ...] = (16, 32, 64, 128)

    @property
    def stride(self) -> int:
        """Input height and width must be a multiple of this (px)."""
        return 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict[str, object]:
        """Plain-types form, stored inside the weights file."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> UNetConfig:
        """Inverse of `to_dict`; raises ValueError on unknown or malformed keys."""
        known = {"in_channels", "num_classes", "widths"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UNetConfig keys {sorted(unknown)}; expected {sorted(known)}")
        widths = d.get("widths", cls.widths)
        if not isinstance(widths, (list, tuple)) or not widths:
            raise ValueError(f"widths must be a non-empty list of ints; found {widths!r}")
        return cls(
            in_channels=int(d.get("in_channels", 3)),  # type: ignore[call-overload]
            num_classes=int(d.get("num_classes", len(SEGMENTATION_CLASSES))),  # type: ignore[call-overload]
            widths=tuple(int(w) for w in widths),
        )


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by batch norm and ReLU: (B, cin, H, W) -> (B, cout, H, W)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net with max-pool downsampling, bilinear upsampling and skip concatenation.

    forward: image (B, 3, H, W) float, RGB scaled to [0, 1] then centred (see
    `pipeline.segment.preprocess.to_tensor`), H and W multiples of `config.stride`
    -> logits (B, num_classes, H, W) float.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or UNetConfig()
        w = self.config.widths
        self.down = nn.ModuleList()
        cin = self.config.in_channels
        for cout in w:
            self.down.append(ConvBlock(cin, cout))
            cin = cout
        self.up = nn.ModuleList()
        for i in range(len(w) - 1, 0, -1):
            self.up.append(ConvBlock(w[i] + w[i - 1], w[i - 1]))
        self.head = nn.Conv2d(w[0], self.config.num_classes, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image (B, C, H, W) -> logits (B, K, H, W); see the class docstring."""
        stride = self.config.stride
        if image.ndim != 4 or image.shape[1] != self.config.in_channels:
            raise ValueError(
                f"image must have shape (B, {self.config.in_channels}, H, W); found {tuple(image.shape)}"
            )
        if image.shape[2] % stride or image.shape[3] % stride:
            raise ValueError(
                f"image height and width must be multiples of {stride}; found {tuple(image.shape[2:])}"
            )
        skips: list[torch.Tensor] = []
        x = image
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fuse_for_inference(model: UNet) -> UNet:
    """Fold every BatchNorm into the convolution before it (eval mode only), in place.

    The fused model computes the same function as the eval-mode original (to float rounding)
    with fewer passes over memory. Returns `model`, now in eval mode and not for training.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for block in [*model.down, *model.up]:
        layers = list(block.children())
        fused: list[nn.Module] = []
        i = 0
        while i < len(layers):
            layer = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
                fused.append(fuse_conv_bn_eval(layer, nxt))
                i += 2
            else:
                fused.append(layer)
                i += 1
        for name in list(block._modules):
            del block._modules[name]
        for j, layer in enumerate(fused):
            block.add_module(str(j), layer)
    return model
