"""Image-level severity: the whole face view -> Hayashi level (mild, moderate, severe) and the lesion count.

A pretrained EfficientNet-Lite to stride 32, global average pooling, one linear layer: three level logits and
log(1 + lesion count) as a second target (the experts' count steadies what the level alone teaches, as LDL
uses the count to grade).
"""
from __future__ import annotations

import torch
from torch import nn

from models.pretrained import LiteFeatures

LEVELS = 3  # ACNE04 levels 0-2: mild, moderate, severe
INPUT = 384  # face crop side, pixels


class GradeNet(nn.Module):
    def __init__(self, variant: str = "lite0", weights=None, pretrained: bool = True, dropout: float = 0.3):
        super().__init__()
        self.backbone = LiteFeatures(variant, cut=32, weights=weights, pretrained=pretrained)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.backbone.channels[-1], LEVELS + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x INPUT x INPUT RGB in [0, 1] -> N x 4: level logits, log(1 + count)."""
        feat = self.backbone(x)[-1].mean(dim=(2, 3))
        return self.fc(self.drop(feat))
