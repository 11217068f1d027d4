"""Region-weighted focal loss (paper eq. 3-4) and feature-distribution distillation loss (eq. 5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

FOCAL_GAMMA = 1.5
FOCAL_ALPHA = 0.4  # the paper's single alpha for every class


def focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
               gamma: float = FOCAL_GAMMA, alpha: float = FOCAL_ALPHA) -> torch.Tensor:
    """Mean over the batch of a_region * alpha * (1 - p_t)^gamma * -log p_t."""
    logp = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    loss = -alpha * (1 - logp.exp()).pow(gamma) * logp
    if weight is not None:
        loss = loss * weight
    return loss.mean()


def feature_kd(student_feat: torch.Tensor, teacher_feat: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(F_t || F_s) between softmax distributions over the (projected) pooled feature channels.

    Layer-normalising first puts both networks' features on one scale, so the temperature means the same thing.
    """
    t = F.layer_norm(teacher_feat, teacher_feat.shape[1:]) / temperature
    s = F.layer_norm(student_feat, student_feat.shape[1:]) / temperature
    return F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), log_target=True, reduction="batchmean") * temperature ** 2
