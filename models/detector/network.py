"""Lesion-centre detector on a pretrained EfficientNet-Lite cut at stride 16, FPN down to a stride-2 heatmap.

Outputs per cell (CenterNet-style, anchor-free): channel 0 the heatmap logit of acne lesion centres, channel 1
of non-acne marks (spot, scar, mole), channels 2-3 log(width), log(height) of the lesion in input pixels.
Stride 2, not 4: on the 768 px ACNE04 copies 6.6 % of lesions have another within 8 px, which one stride-4
peak step would merge. The neck narrows as it climbs in resolution so the stride-2 layers stay cheap.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.pretrained import LiteFeatures

STRIDE = 2
HEATMAPS = 2  # acne, non-acne
OUTPUTS = HEATMAPS + 2  # + log w, log h
NECK = (24, 32, 64, 64)  # neck width at strides 2, 4, 8, 16
PRIOR = 0.01  # initial heatmap probability: most cells hold no lesion centre
MULTIPLE = 32  # input sides must be multiples of this (the backbone's TF "same" padding assumes even sizes)


def conv_bn(c_in: int, c_out: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class LesionDetector(nn.Module):
    def __init__(self, variant: str = "lite0", weights=None, pretrained: bool = True):
        super().__init__()
        self.variant = variant
        self.backbone = LiteFeatures(variant, cut=16, weights=weights, pretrained=pretrained)
        chans = self.backbone.channels  # strides 2, 4, 8, 16
        self.lateral = nn.ModuleList(conv_bn(c, n, 1) for c, n in zip(chans, NECK))
        self.down = nn.ModuleList(conv_bn(NECK[i + 1], NECK[i], 1) for i in range(len(NECK) - 1))
        self.smooth = nn.ModuleList(conv_bn(n, n, 3) for n in NECK[:-1])
        self.head = nn.Sequential(conv_bn(NECK[0], NECK[0], 3), nn.Conv2d(NECK[0], OUTPUTS, 1))
        nn.init.constant_(self.head[-1].bias[:HEATMAPS], math.log(PRIOR / (1 - PRIOR)))
        nn.init.constant_(self.head[-1].bias[HEATMAPS:], math.log(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W RGB in [0, 1] (H, W multiples of 32) -> N x 4 x H/2 x W/2."""
        feats = self.backbone(x)
        top = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            up = F.interpolate(self.down[i](top), size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            top = self.smooth[i](up + self.lateral[i](feats[i]))
        return self.head(top)


def heatmap_focal_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                       alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per lesion centre. target: Gaussian bumps peaking at 1 on each
    centre; mask: 1 where the channel is labelled in this crop (the non-acne channel only on boxed selfies)."""
    logits = logits.float()
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = (target >= 0.999).float() * mask
    neg = (1 - pos) * mask
    pos_loss = -F.logsigmoid(logits) * (1 - p).pow(alpha) * pos
    neg_loss = -F.logsigmoid(-logits) * p.pow(alpha) * (1 - target).pow(beta) * neg
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def size_loss(pred: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """L1 on log width/height at the labelled centre cells."""
    where = where.float()
    return ((pred.float() - target).abs() * where).sum() / where.sum().clamp(min=1.0)
