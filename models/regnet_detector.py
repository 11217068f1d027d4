"""The lesion detector: Acne-RegNet student backbone + a light FPN neck -> lesion-centre heatmaps at stride 4.

CenterNet-style and anchor-free: channel 0 is the heatmap of acne lesion centres, channel 1 of non-acne marks
(spot, scar, mole), so those are never counted as acne; channels 2-3 are log(width), log(height) of the lesion
in canonical pixels, read at each peak. The backbone is the shipped patch classifier's (RegNet blocks with
ECA, paper section 3.2), started from its trained weights: it has already learnt lesions at this scale.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.regnet import RegNet, conv_bn, student

STRIDE = 4
HEATMAPS = 2  # acne, non-acne
OUTPUTS = HEATMAPS + 2  # + log w, log h
NECK_WIDTH = 64
HEAD_WIDTH = 32
PRIOR = 0.02  # initial heatmap probability: most cells hold no lesion centre


class LesionDetector(nn.Module):
    def __init__(self, group_width: int = 16):
        super().__init__()
        backbone = student(group_width)
        self.stem = backbone.stem
        self.stages = nn.ModuleList(_stages(backbone))
        widths = [stage[-1].c[0].out_channels for stage in self.stages]
        self.lateral = nn.ModuleList(conv_bn(w, NECK_WIDTH if i else HEAD_WIDTH, 1) for i, w in enumerate(widths))
        self.smooth = nn.ModuleList(conv_bn(NECK_WIDTH, NECK_WIDTH, 3) for _ in widths[1:-1])
        self.reduce = conv_bn(NECK_WIDTH, HEAD_WIDTH, 1)
        self.head = nn.Sequential(conv_bn(HEAD_WIDTH, HEAD_WIDTH, 3), nn.Conv2d(HEAD_WIDTH, OUTPUTS, 1))
        nn.init.constant_(self.head[-1].bias[:HEATMAPS], float(np.log(PRIOR / (1 - PRIOR))))
        nn.init.constant_(self.head[-1].bias[HEATMAPS:], float(np.log(10.0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W in [0, 1] (H, W multiples of 32) -> N x 4 x H/4 x W/4: heat logits, log w, log h."""
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        top = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, 0, -1):  # s16, s8: top-down, as an FPN
            top = F.interpolate(top, size=feats[i].shape[-2:], mode="nearest") + self.lateral[i](feats[i])
            top = self.smooth[i - 1](top)
        top = F.interpolate(self.reduce(top), size=feats[0].shape[-2:], mode="bilinear", align_corners=False)
        return self.head(top + self.lateral[0](feats[0]))


def _stages(backbone: RegNet) -> list[nn.Sequential]:
    stages, current, width = [], [], None
    for block in backbone.body:
        out = block.c[0].out_channels
        if current and out != width:
            stages.append(nn.Sequential(*current))
            current = []
        current.append(block)
        width = out
    stages.append(nn.Sequential(*current))
    return stages


def load_classifier_weights(model: LesionDetector, onnx_path) -> int:
    """Copy the shipped classifier's backbone (stem + RegNet blocks) from its ONNX file into `model`.

    The export folded each BatchNorm into its convolution, so a conv gets the folded weight and its BN becomes
    the identity plus the folded bias. Convolutions are matched in the order they run, shapes checked.
    Returns how many convolutions were loaded.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    onnx_convs = [(weights[n.input[1]], weights[n.input[2]] if len(n.input) > 2 else None)
                  for n in graph.node if n.op_type == "Conv" and weights.get(n.input[1]) is not None
                  and weights[n.input[1]].ndim == 4]
    order: list[nn.Conv2d] = []
    backbone_convs = [m for part in (model.stem, *model.stages) for m in part.modules() if isinstance(m, nn.Conv2d)]
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in backbone_convs]
    with torch.no_grad():
        x = model.stem(torch.zeros(1, 3, 64, 64))
        for stage in model.stages:
            x = stage(x)
    for h in hooks:
        h.remove()
    bn_after = {id(seq[0]): seq[1] for seq in model.modules()
                if isinstance(seq, nn.Sequential) and len(seq) >= 2 and isinstance(seq[0], nn.Conv2d)
                and isinstance(seq[1], nn.BatchNorm2d)}
    eca = {name: w for name, w in weights.items() if ".att.conv.weight" in name}
    with torch.no_grad():
        for conv, (w, b) in zip(order, onnx_convs):
            if tuple(conv.weight.shape) != w.shape:
                raise ValueError(f"classifier conv {w.shape} does not fit detector conv {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bn = bn_after[id(conv)]
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(b)) if b is not None else torch.zeros_like(bn.bias))
        offset = 0
        for stage in model.stages:
            for j, block in enumerate(stage):
                key = f"body.{offset + j}.att.conv.weight"
                if key in eca:
                    block.att.conv.weight.copy_(torch.from_numpy(np.array(eca[key])))
            offset += len(stage)
    return min(len(order), len(onnx_convs))


def freeze_backbone_bn(model: LesionDetector) -> None:
    """Keep the backbone's BatchNorm statistics as loaded (small CPU batches give noisy batch statistics)."""
    for m in [model.stem, *model.stages]:
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.eval()


def heatmap_focal_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                       alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, summed over labelled cells, per lesion centre.

    target: Gaussian bumps peaking at 1 on each centre; mask: 1 where the channel is labelled in this photo.
    """
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = (target >= 0.999).float() * mask
    neg = (1 - pos) * mask
    pos_loss = -torch.log(p) * (1 - p).pow(alpha) * pos
    neg_loss = -torch.log(1 - p) * p.pow(alpha) * (1 - target).pow(beta) * neg
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)
