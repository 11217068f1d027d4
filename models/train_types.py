"""The lesion-type classifier: what kind of acne lesion a detected peak is, from a patch centred on it.

    python -m models.train_types --backbone lite0 --upsample 2 --epochs 10 [--whole-size 128] --export FILE.onnx

Trained on lesion-centred 64 px patches: close-ups (blackhead/whitehead -> comedone, papule, pustule,
nodule/cyst -> nodule; near-duplicate groups held out as in models.patchset; a window of half to all of a close-up,
shrunk to a patch) and the acne-lesions training photos' acne (comedone) and pimple (papule) boxes, cut from the
same canonical views the detector trains on. Focal loss and the paper's augmentations (rotation, flip, colour,
rolling). `--backbone lite0` starts from the ImageNet-pretrained EfficientNet-Lite0, `regnet` (the default) from
the shipped Acne-RegNet student. `--whole-size` also trains on whole close-ups at that size (a declared close-up's
whole picture is then typed at it, not shrunk to a patch); `--without-tune` keeps the close-ups' tune groups out
and scores on them, to choose the service's close-up settings on photos the model never saw.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from models import detset, loop
from models.augment import colour, geometric, random_crop, roll, ROLL_P
from models.losses import focal_loss
from models.patchset import closeup_parts, closeup_patches
from models.regnet import student
from models.sources import CLASS_INDEX, REPO_ROOT, data_dir, face_photos
from pipeline.patches import crop_patch
from pipeline.preprocess import CLOSEUP_TYPE_SIDE, PATCH_SIZE, to_model_input
from pipeline.types import ACNE_TYPES, CLASSES

CLASSIFIER_ONNX = REPO_ROOT / "models" / "weights" / "acne_regnet_student.onnx"
FACE_STORED = PATCH_SIZE + 12
MODEL_NAME = "acne-regnet-types"
MODEL_VERSION = "2026.11.28"
LITE_VERSION = "2026.12.05"
WHOLE_CORNER = 0.75  # a whole close-up's training window: this much of its stored square, up to all of it


def face_type_patches(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Patches centred on acne-lesions acne/pimple boxes in the cached canonical views -> (images, labels)."""
    photos = {p.name: p for p in detset.load(f"lesions_{split}")}
    images, labels = [], []
    for photo in face_photos(data_dir(), split):
        cached = photos.get(photo.path.name)
        if cached is None or not cached.face:
            continue
        pixels = np.asarray(cached.pixels())
        h, w = detset._image_size(photo.path)
        for b in photo.boxes:
            if b.label not in ("comedone", "papule"):
                continue
            cx = (b.cx * w - cached.offset[0]) * cached.factor
            cy = (b.cy * h - cached.offset[1]) * cached.factor
            if 0 <= cx < pixels.shape[1] and 0 <= cy < pixels.shape[0]:
                images.append(crop_patch(pixels, cx, cy, FACE_STORED))
                labels.append(ACNE_TYPES.index(b.label))
    return np.stack(images), np.array(labels, np.int64)


def closeup_type_patches(without_tune: bool = False) -> tuple[tuple[np.ndarray, np.ndarray],
                                                               tuple[np.ndarray, np.ndarray]]:
    """(training, scored) close-ups with type labels: the training groups and the held-out ones, or, without the
    tune groups, the rest of the training groups and the tune groups."""
    patches = closeup_patches(data_dir())
    train, val = (closeup_parts(patches, p) for p in (("train_less_tune", "tune") if without_tune
                                                      else ("train", "held_out")))
    to_type = {CLASS_INDEX[t]: i for i, t in enumerate(ACNE_TYPES)}
    return ((train.images, np.array([to_type[int(l)] for l in train.labels])),
            (val.images, np.array([to_type[int(l)] for l in val.labels])))


def build_model(backbone: str = "regnet", upsample: int = 1) -> torch.nn.Module:
    """`lite0`: the ImageNet-pretrained EfficientNet-Lite0, pooled, four type logits (the patch enlarged
    `upsample` times inside the network first: at 64 px its last feature map is 2 x 2); `regnet`: the student with
    the shipped classifier's weights, its classifier rows cut to the four acne types."""
    if backbone == "lite0":
        from models.pretrained import PooledLite

        lite = PooledLite("lite0", len(ACNE_TYPES))
        if upsample == 1:
            return lite
        return torch.nn.Sequential(torch.nn.Upsample(scale_factor=upsample, mode="bilinear"), lite)
    import onnx
    from onnx import numpy_helper

    from models.regnet_detector import LesionDetector, load_classifier_weights

    donor = LesionDetector()
    load_classifier_weights(donor, CLASSIFIER_ONNX)
    net = student()
    net.stem = donor.stem
    net.body = torch.nn.Sequential(*[b for stage in donor.stages for b in stage])
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(CLASSIFIER_ONNX)).graph.initializer}
    rows = [CLASSES.index(t) for t in ACNE_TYPES]
    net.fc = torch.nn.Linear(net.feature_dim, len(ACNE_TYPES))
    with torch.no_grad():
        net.head_att.conv.weight.copy_(torch.from_numpy(weights["head_att.conv.weight"]))
        net.fc.weight.copy_(torch.from_numpy(weights["fc.weight"][rows]))
        net.fc.bias.copy_(torch.from_numpy(weights["fc.bias"][rows]))
    return net


def augment_patches(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Stored face patches (a random PATCH_SIZE window) and close-ups (a window of half to all of them, shrunk to
    PATCH_SIZE), turned, mirrored, sometimes rolled and colour-jittered."""
    out = []
    for img in images:
        if img.shape[0] == CLOSEUP_TYPE_SIDE:
            s = int(rng.integers(PATCH_SIZE, CLOSEUP_TYPE_SIDE + 1))  # any window from half to the whole close-up
            img = random_crop(img, rng, s)
            img = _resize(img, PATCH_SIZE)
        else:
            img = random_crop(img, rng)
        img = geometric(img, rng)
        if rng.random() < ROLL_P:
            img = roll(img, rng)
        out.append(np.ascontiguousarray(img))
    return _colour_jittered(out, rng)


def augment_whole(images: list[np.ndarray], rng: np.random.Generator, size: int) -> np.ndarray:
    """Whole close-ups as the service shows a declared close-up to the classifier (pipeline.lesions.whole_closeup):
    a window of WHOLE_CORNER to all of the stored square, resized to `size`, turned, mirrored and colour-jittered."""
    out = []
    for img in images:
        s = int(rng.integers(int(round(img.shape[0] * WHOLE_CORNER)), img.shape[0] + 1))
        out.append(np.ascontiguousarray(geometric(_resize(random_crop(img, rng, s), size), rng)))
    return _colour_jittered(out, rng)


def _colour_jittered(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    batch = np.stack(images).astype(np.float32) / 255.0
    return (colour(batch, rng) * 255.0).astype(np.uint8)


def wholes(images: np.ndarray, size: int) -> np.ndarray:
    """Evaluation inputs for the whole close-up: the stored square resized to `size`."""
    return np.stack([_resize(img, size) for img in images])


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if img.shape[0] != size else img


def centred(images: np.ndarray) -> np.ndarray:
    """Evaluation inputs: the centre half of a close-up, the centre window of a face patch."""
    out = []
    for img in images:
        s = img.shape[0]
        o = (s - PATCH_SIZE) // 2
        out.append(img[o:o + PATCH_SIZE, o:o + PATCH_SIZE])
    return np.stack(out)


def predict(net, images: np.ndarray) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            out.append(net(torch.from_numpy(to_model_input(images[i:i + 256]))).numpy())
    return np.concatenate(out).argmax(1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples-per-epoch", type=int, default=6144)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", default=str(REPO_ROOT / "var" / "runs" / "types"))
    ap.add_argument("--export", type=Path, default=None)
    ap.add_argument("--backbone", choices=["regnet", "lite0"], default="regnet",
                    help="the Acne-RegNet student or the ImageNet-pretrained EfficientNet-Lite0")
    ap.add_argument("--upsample", type=int, default=1, help="lite0: enlarge the 64 px patch this many times inside")
    ap.add_argument("--whole-size", type=int, default=0,
                    help="also train on whole close-ups at this many px (0: only as patches); the exported model then "
                         "takes any input size and types a declared close-up's whole picture at this size")
    ap.add_argument("--whole-batch", type=int, default=16, help="whole close-ups per step, beside --batch-size patches")
    ap.add_argument("--without-tune", action="store_true",
                    help="train without the close-ups' tune groups (models.patchset.closeup_parts) and score on them")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    run = Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (cu_x, cu_y), (val_x, val_y) = closeup_type_patches(args.without_tune)
    face_x, face_y = face_type_patches("train")
    fv_x, fv_y = face_type_patches("valid")
    pool_x = list(cu_x) + list(face_x)
    pool_y = np.concatenate([cu_y, face_y])
    counts = np.bincount(pool_y, minlength=len(ACNE_TYPES))
    weights = (1.0 / np.sqrt(counts))[pool_y]
    weights /= weights.sum()
    print("pool per type", dict(zip(ACNE_TYPES, counts.tolist())), flush=True)
    cu_counts = np.bincount(cu_y, minlength=len(ACNE_TYPES))
    cu_weights = (1.0 / cu_counts)[cu_y]
    cu_weights /= cu_weights.sum()
    net = build_model(args.backbone, args.upsample)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.05)
    steps = args.epochs * args.samples_per_epoch // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps, pct_start=0.1)
    # Resumable by epoch: the same command continues from the last finished epoch (run/last.pt).
    state = loop.resume(run, net, opt)
    if state.step:
        sched.load_state_dict(state.extra["schedule"])
        rng.bit_generator.state = state.extra["rng"]
        torch.set_rng_state(state.extra["torch_rng"])
    history, began = state.extra.get("history", []), time.time() - state.seconds
    for epoch in range(state.step, args.epochs):
        net.train()
        for bn in net.modules():  # keep the loaded (folded) statistics, as the detector does
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.eval()
        for _ in range(args.samples_per_epoch // args.batch_size):
            idx = rng.choice(len(pool_y), args.batch_size, p=weights)
            x = torch.from_numpy(to_model_input(augment_patches([pool_x[i] for i in idx], rng)))
            with loop.autocast(torch.device("cpu")):
                logits = net(x)
            loss = focal_loss(logits.float(), torch.from_numpy(pool_y[idx]))
            if args.whole_size:
                w_idx = rng.choice(len(cu_y), args.whole_batch, p=cu_weights)
                w_x = torch.from_numpy(to_model_input(augment_whole([cu_x[i] for i in w_idx], rng, args.whole_size)))
                with loop.autocast(torch.device("cpu")):
                    w_logits = net(w_x)
                loss = loss + focal_loss(w_logits.float(), torch.from_numpy(cu_y[w_idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        closeup_acc = float(np.mean(predict(net, centred(val_x)) == val_y))
        face_acc = float(np.mean(predict(net, centred(fv_x)) == fv_y))
        whole_acc = float(np.mean(predict(net, wholes(val_x, args.whole_size or PATCH_SIZE)) == val_y))
        history.append({"epoch": epoch + 1, "closeup_val_accuracy": closeup_acc, "closeup_whole_accuracy": whole_acc,
                        "face_valid_accuracy": face_acc, "seconds": time.time() - began})
        print(json.dumps(history[-1]), flush=True)
        loop.save(run, net, opt, loop.RunState(step=epoch + 1, seconds=time.time() - began, extra={
            "history": history, "schedule": sched.state_dict(), "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state()}), config=vars(args) | {"export": str(args.export)})
        # Model selection on the close-ups' training groups would leak nothing but says little; the last epoch
        # of the one-cycle schedule is what is shipped.
    torch.save(net.state_dict(), run / "types.pt")
    summary = {"history": history, "pool": dict(zip(ACNE_TYPES, counts.tolist())),
               "held_out": {"closeup_val": len(val_y), "face_valid": len(fv_y)},
               "closeup_val_is": "tune groups" if args.without_tune else "held-out groups"}
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.export:
        lite = args.backbone != "regnet"
        export(net, args.export, f"{args.backbone}-types" if lite else MODEL_NAME,
               LITE_VERSION if lite else MODEL_VERSION, args.whole_size)
    return summary


def export(net: torch.nn.Module, path: Path, name: str = MODEL_NAME, version: str = MODEL_VERSION,
           whole_size: int = 0) -> None:
    """The ONNX file; with `whole_size`, any input size (patches at PATCH_SIZE, whole close-ups at whole_size)."""
    import tempfile

    import onnx

    from models.export import replace_metadata

    net = net.eval()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(net, (torch.rand(2, 3, PATCH_SIZE, PATCH_SIZE),), str(raw), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch", **({2: "height", 3: "width"} if whole_size else {})},
                                        "logits": {0: "batch"}})
        proto = onnx.load(str(raw))
    meta = {"name": name, "version": version, "classes": ",".join(ACNE_TYPES),
            "input_size": str(PATCH_SIZE), "canon_face_height": "640",
            "input": "N x 3 x 64 x 64 float32 RGB in [0, 1], enhanced canonical patch centred on a detected lesion",
            "output": "N x 4 logits in the order of 'classes'"}
    if whole_size:
        meta["whole_closeup_size"] = str(whole_size)
        meta["input"] = (f"N x 3 x S x S float32 RGB in [0, 1]: S={PATCH_SIZE}, an enhanced canonical patch centred "
                         f"on a detected lesion; S={whole_size}, a declared close-up's whole picture")
    replace_metadata(proto, meta)
    onnx.save(proto, str(path))


if __name__ == "__main__":
    main()
