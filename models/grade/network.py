"""Image-level severity: the whole face view -> Hayashi level (mild, moderate, severe) and the lesion count.

A pretrained EfficientNet-Lite to stride 32, global average pooling, one linear layer: three level logits and
log(1 + lesion count) as a second target (the experts' count steadies what the level alone teaches, as LDL
uses the count to grade).
"""
from __future__ import annotations

from models.pretrained import PooledLite

LEVELS = 3  # ACNE04 levels 0-2: mild, moderate, severe
INPUT = 384  # face crop side, pixels


class GradeNet(PooledLite):
    """N x 3 x INPUT x INPUT RGB in [0, 1] -> N x 4: level logits, log(1 + count)."""

    def __init__(self, variant: str = "lite0", weights=None, pretrained: bool = True, dropout: float = 0.3):
        super().__init__(variant, LEVELS + 1, weights, pretrained, dropout)
