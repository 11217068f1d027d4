"""RegNetY-style lesion classifiers: the LRegNet teacher and the Acne-RegNet student (paper section 3.2).

stem (3x3 conv s2, BN, ReLU) -> four stages of residual bottlenecks (1x1 conv, 3x3 group conv, channel
attention, 1x1 conv; first block of a stage has stride 2) -> ECA head -> global average pool -> dropout -> linear.
Stage widths and depths come from RegNet's quantised linear rule (Radosavovic et al. 2020).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.preprocess import PATCH_SIZE
from pipeline.types import CLASSES

STEM_WIDTH = 32


@dataclass(frozen=True)
class RegNetSpec:
    w0: float
    wa: float
    wm: float
    depth: int
    group_width: int
    block_attention: str  # "se" (RegNetY, the teacher) or "eca" (the student: ECA replaces SE)
    se_ratio: float = 0.25
    quantum: int = 8

    def stages(self) -> list[tuple[int, int, int]]:
        """(width, depth, group width) per stage."""
        u = self.w0 + self.wa * np.arange(self.depth)
        s = np.round(np.log(u / self.w0) / np.log(self.wm))
        w = self.w0 * np.power(self.wm, s)
        w = (np.round(w / self.quantum) * self.quantum).astype(int)
        widths, depths = np.unique(w, return_counts=True)
        out = []
        for width, d in zip(widths.tolist(), depths.tolist()):
            g = min(self.group_width, width)
            width = int(round(width / g) * g)  # widths must be divisible by the group width
            out.append((width, d, g))
        return out


TEACHER = RegNetSpec(w0=56, wa=38.84, wm=2.4, depth=14, group_width=16, block_attention="se")


def student_spec(group_width: int = 16) -> RegNetSpec:
    return RegNetSpec(w0=24, wa=36.44, wm=2.49, depth=13, group_width=group_width, block_attention="eca")


def eca_kernel(channels: int, gamma: int = 2, b: int = 1) -> int:
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 else k + 1


class ECA(nn.Module):
    """Efficient channel attention: a k-wide 1-D conv across pooled channels, no dimensionality reduction (eq. 2)."""

    def __init__(self, channels: int, k: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean((2, 3), keepdim=False).unsqueeze(1)  # N x 1 x C
        w = torch.sigmoid(self.conv(w)).transpose(1, 2).unsqueeze(-1)  # N x C x 1 x 1
        return x * w


class SE(nn.Module):
    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, group_width: int, attention: str, se_ratio: float):
        super().__init__()
        self.a = conv_bn(cin, cout, 1)
        self.b = conv_bn(cout, cout, 3, stride, groups=cout // group_width)
        if attention == "se":
            self.att: nn.Module = SE(cout, max(1, int(round(cin * se_ratio))))
        else:
            self.att = ECA(cout, 3)
        self.c = conv_bn(cout, cout, 1, relu=False)
        self.proj = conv_bn(cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.relu(self.c(self.att(self.b(self.a(x)))) + shortcut)


class RegNet(nn.Module):
    def __init__(self, spec: RegNetSpec, num_classes: int = len(CLASSES), dropout: float = 0.2):
        super().__init__()
        self.spec = spec
        self.stem = conv_bn(3, STEM_WIDTH, 3, 2)
        blocks: list[nn.Module] = []
        cin = STEM_WIDTH
        for width, depth, g in spec.stages():
            for i in range(depth):
                blocks.append(Bottleneck(cin, width, 2 if i == 0 else 1, g, spec.block_attention, spec.se_ratio))
                cin = width
        self.body = nn.Sequential(*blocks)
        self.head_att = ECA(cin, 3)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self.feature_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.c[1].weight)  # each residual block starts as identity: steadier short runs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector (N x feature_dim), the representation matched in distillation."""
        return self.head_att(self.body(self.stem(x))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


def teacher(num_classes: int = len(CLASSES)) -> RegNet:
    return RegNet(TEACHER, num_classes)


def student(group_width: int = 16, num_classes: int = len(CLASSES)) -> RegNet:
    return RegNet(student_spec(group_width), num_classes)


def save_model(model: RegNet, path: Path) -> None:
    """A checkpoint: the spec, the weights, the classes and the input size (models.train writes it)."""
    torch.save({"spec": asdict(model.spec), "state_dict": model.state_dict(), "classes": list(CLASSES),
                "input_size": PATCH_SIZE}, path)


def load_model(path: Path, map_location="cpu") -> RegNet:
    """A checkpoint written by save_model, in eval mode (models.train resumes from it, models.export exports it)."""
    saved = torch.load(path, map_location=map_location, weights_only=False)
    model = RegNet(RegNetSpec(**saved["spec"]), len(saved["classes"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def complexity(model: nn.Module, size: int) -> dict[str, float]:
    """Parameters and multiply-accumulates of one forward pass at size x size (convs, linears, attention gates)."""
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, (nn.Conv2d, nn.Conv1d)):
            k = int(np.prod(mod.kernel_size))
            macs += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features
        elif isinstance(mod, (ECA, SE)):
            macs += inp[0].numel() // inp[0].shape[0]  # the channel re-weighting multiply

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear, ECA, SE))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    model.train(was_training)
    for h in handles:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    return {"params_m": params / 1e6, "gmacs": macs / 1e9, "size": size}


def complexity_table(sizes: tuple[int, ...] = (64, 112, 224)) -> list[dict]:
    rows = []
    for name, model in (("LRegNet teacher", teacher()), ("Acne-RegNet student g8", student(8)),
                        ("Acne-RegNet student g16", student(16))):
        for s in sizes:
            rows.append({"model": name, "stages": model.spec.stages(), **complexity(model, s)})
    return rows


if __name__ == "__main__":
    for row in complexity_table():
        print(f"{row['model']:<26} {row['size']:>4}px  {row['params_m']:.2f} M  {row['gmacs']:.3f} GMACs  "
              f"{row['stages']}")
