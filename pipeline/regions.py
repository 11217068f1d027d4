"""Face landmarks -> skin masks per facial region (pipeline.faces finds the face).

Sides are the patient's: in an unmirrored photo the patient's left cheek is on the image's right.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.faces import CHIN, TOP, FaceLandmarks, SideFace, on_patients_left
from pipeline.types import REGIONS

# Landmark index sets of the 468-point FaceMesh topology.
_RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
_LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
_RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
_LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
_LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
         267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
_NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
_NOSTRILS = (64, 98, 97, 2, 326, 327, 294, 240, 460)
_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
         148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
_MOUTH_RIGHT, _MOUTH_LEFT = 61, 291
_RIGHT_EYE_INNER, _LEFT_EYE_INNER = 133, 362

_MIN_REGION_PATCHES = 1.0  # a region smaller than one model tile is not assessable
# A cheek this much smaller than the other one is turned away. Chosen on the selfie and ACNE04 tune photos
# (acne F1 0.401 -> 0.408 and 0.192 either way from 0.3; 0.2 gave 0.402): a three-quarter view's far cheek with a
# fifth of the near one's skin is still seen, and its lesions counted (a region added never lowers a grade).
_HIDDEN_CHEEK_RATIO = 0.15


def _poly(mask_shape, points: np.ndarray) -> np.ndarray:
    mask = np.zeros(mask_shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.view(bool)


_DISK = np.stack([np.cos(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False))], axis=1)


def _hull(mask_shape, points: np.ndarray, grow_px: float = 0.0) -> np.ndarray:
    """Filled convex hull of the points, grown by grow_px: the hull of the points' Minkowski sum with a
    disk is the dilated hull, and far cheaper than a morphological dilation with a large kernel."""
    if grow_px >= 1:
        points = (points[:, None, :] + grow_px * _DISK[None, :, :]).reshape(-1, 2)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    mask = np.zeros(mask_shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.view(bool)


_SKIN_SAMPLE = 20000  # pixels enough to learn the skin's colour


def _skin_colour(rgb: np.ndarray, seed: np.ndarray):
    """YCrCb pixels (uint8) with the median and robust spread of the seed's colour; None for too small a seed."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    where = np.flatnonzero(seed)
    if len(where) < 50:
        return ycc, None, None
    # An evenly spread subsample gives the same median and spread at a fraction of the cost.
    sample = ycc.reshape(-1, 3)[where[::max(1, len(where) // _SKIN_SAMPLE)]].astype(np.float32)
    med = np.median(sample, axis=0)
    mad = np.median(np.abs(sample - med), axis=0) * 1.4826 + 1.0
    return ycc, med, mad


def _in_ranges(ycc: np.ndarray, low, high) -> np.ndarray:
    """Pixels whose Y, Cr and Cb all lie in [low, high] (inclusive, real-valued bounds)."""
    lo = np.clip(np.ceil(np.asarray(low, np.float64)), 0, 256)
    hi = np.clip(np.floor(np.asarray(high, np.float64)), -1, 255)
    if np.any(lo > hi):
        return np.zeros(ycc.shape[:2], bool)
    return cv2.inRange(ycc, lo, hi).view(bool)


def _within_skin(ycc: np.ndarray, med: np.ndarray, mad: np.ndarray) -> np.ndarray:
    """|Cr - median| within tolerance (15 more on the red side, for papules), |Cb - median| within
    tolerance, and not much darker than the skin."""
    tol_cr = max(4 * mad[1], 22.0)
    tol_cb = max(4 * mad[2], 18.0)
    return _in_ranges(ycc, (0.4 * med[0], med[1] - tol_cr, med[2] - tol_cb),
                      (255, med[1] + tol_cr + 15, med[2] + tol_cb))


def skin_like(rgb: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Pixels whose colour is close to the face's own skin: removes hair, glasses, shadows and background.

    Bounds are wide on purpose: red papules must stay inside the skin mask.
    """
    ycc, med, mad = _skin_colour(rgb, seed)
    if med is None:
        return np.ones(rgb.shape[:2], bool)
    return _within_skin(ycc, med, mad)


def _plain_skin(ycc: np.ndarray, med: np.ndarray, mad: np.ndarray, texture: np.ndarray | None = None) -> np.ndarray:
    """Stricter skin test for growing past the landmarks: no greyish background (a pale wall passes the wide
    bounds), nothing much darker than the face (hair, shade) and no fine texture (strands of hair). `texture`:
    the brightness variance around each pixel (`_fine_texture`), if `ycc` is too coarse to show it."""
    tol_cb = max(3 * mad[2], 12.0)
    colour = _in_ranges(ycc, (0.5 * med[0], med[1] - max(2.5 * mad[1], 8.0), med[2] - tol_cb),
                        (255, 255, med[2] + tol_cb))
    if texture is None:
        y = ycc[..., 0].astype(np.float32)
        mean = cv2.blur(y, (5, 5))
        texture = cv2.blur(y * y, (5, 5)) - mean * mean
    return colour & (texture <= 14.0 ** 2)


def _fine_texture(full_ycc: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The brightness variance of `full_ycc` over 6 x 6 pixel windows, on a grid `shape` half its size: strands
    of hair are finer than the shrunk copy's pixels, whose own brightness has averaged them away."""
    y = full_ycc[..., 0].astype(np.float32)
    mean = cv2.blur(cv2.resize(y, shape[::-1], interpolation=cv2.INTER_AREA), (3, 3))
    mean_sq = cv2.blur(cv2.resize(y * y, shape[::-1], interpolation=cv2.INTER_AREA), (3, 3))
    return mean_sq - mean * mean


# How far the regions may grow past the FaceMesh oval, in face heights, where the skin carries on: the
# oval's top (landmark 10) sits below the hairline and its sides inside the temples and the jaw line.
_FOREHEAD_REACH = 0.22  # above landmark 10, up to the hairline
_SIDE_REACH = 0.08  # sideways past the oval: temples, side of the face, jaw line
_EAR_REACH = 0.03  # ... but less where the ears are, between the eyes' and the mouth's levels
_CHIN_MARGIN = 0.03  # below landmark 152, and no further: the neck is not assessed
_SMOOTH = 0.015  # open/close kernel: rounds the outlines and drops slivers and specks
_MIN_PIECE = 0.04  # side of the smallest separate piece of skin a region keeps (between strands of hair)
_EYE_GROW, _BROW_GROW, _LIPS_GROW, _NOSTRILS_GROW = 0.04, 0.025, 0.02, 0.01
_BROW_LOW = (46, 53, 52, 65, 55, 276, 283, 282, 295, 285)  # the brows' lower edges
# Each region's skin grown by this much (face heights) inside its own zone, over skin-coloured pixels of any
# texture: a papule on the edge of the plain skin is still the region's (experts mark many right there).
_EDGE_GROW = 0.025


def _disk(diameter_px: float) -> tuple[np.ndarray, int]:
    """An elliptical structuring element of about this diameter (odd, at least 3 px) and its side."""
    side = max(3, int(round(diameter_px)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)), side


def _on_box(mask: np.ndarray, pad: int, operation) -> np.ndarray:
    """`operation` (uint8 box -> uint8 box) on the mask's bounding box plus `pad` only: a region is a small part
    of the view, and morphology with a large kernel over the whole view is the pipeline's slowest step."""
    box = _bounds(mask, pad)
    if box is None:
        return mask
    out = np.zeros_like(mask)
    out[box] = operation(mask[box].astype(np.uint8)).astype(bool)
    return out


def _bounds(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """The mask's bounding box grown by `pad` on each side (inside the array); None for an empty mask."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(ys):
        return None
    h, w = mask.shape
    return np.s_[max(0, ys[0] - pad):min(h, ys[-1] + pad + 1), max(0, xs[0] - pad):min(w, xs[-1] + pad + 1)]


def _smooth(mask: np.ndarray, kernel: np.ndarray, pad: int) -> np.ndarray:
    """Morphological open then close."""
    def open_close(box):
        box = cv2.morphologyEx(box, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
        return cv2.morphologyEx(box, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)

    return _on_box(mask, pad, open_close)


def _near(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """The pixels at most radius_px from the mask: a dilation by a disk, through the distance transform (a
    large kernel's dilation costs several times as much)."""
    def within(box):
        return (cv2.distanceTransform(1 - box, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius_px).astype(np.uint8)

    return _on_box(mask, _reach_px(radius_px), within)


def _reach_px(radius_px: float) -> int:
    """How far past a mask's box `_near` can reach."""
    return int(np.ceil(radius_px)) + 1


def _connected_to(candidates: np.ndarray, seed: np.ndarray, min_area: int = 0) -> np.ndarray:
    """The pixels of `candidates` in a connected piece (4-connected) that touches `seed` and has at least
    `min_area` pixels."""
    out = np.zeros_like(candidates)
    box = _bounds(candidates, 0)
    if box is None:
        return out
    n, labels, stats, _ = cv2.connectedComponentsWithStats(candidates[box].astype(np.uint8), connectivity=4)
    keep = np.zeros(n, bool)
    keep[labels[seed[box] & candidates[box]]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    out[box] = keep[labels]
    return out


def facial_features(shape: tuple[int, int], face: FaceLandmarks) -> dict[str, np.ndarray]:
    """Masks of what is not skin to assess, each grown a little: eyes, brows, lips, nostrils."""
    p, unit = face.points, face.height
    return {
        "eyes": _hull(shape, p[list(_RIGHT_EYE)], _EYE_GROW * unit)
        | _hull(shape, p[list(_LEFT_EYE)], _EYE_GROW * unit),
        "brows": _hull(shape, p[list(_RIGHT_BROW)], _BROW_GROW * unit)
        | _hull(shape, p[list(_LEFT_BROW)], _BROW_GROW * unit),
        "lips": _hull(shape, p[list(_LIPS)], _LIPS_GROW * unit),
        "nostrils": _hull(shape, p[list(_NOSTRILS)], _NOSTRILS_GROW * unit),
    }


# The regions are worked out at half the view's resolution (about 0.57x the time) and enlarged back. Measured on
# the tune photos (`models.evaluate_detector --photos tune`, the detector's crop moved by 0, 1 and 2 px, since a
# 1 px move alone changes the ACNE04 F1 by up to 0.007), means of the three: ACNE04 F1 0.193 -> 0.195, selfie F1
# 0.410 -> 0.418, ACNE04 count Spearman 0.685 -> 0.718, circle coverage 0.837 -> 0.840.
_MASK_SCALE = 0.5
# An enlarged pixel is a region's where the interpolated mask reaches a quarter: the shrunk copy's edge pixels,
# which average skin with what lies beyond, fail the skin tests more often than full-resolution ones.
_ENLARGED_FROM = 64


def region_masks(rgb: np.ndarray, face: FaceLandmarks) -> dict[str, np.ndarray]:
    """Boolean skin masks for the five regions, in the coordinates of `rgb` (which `face` must match)."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * _MASK_SCALE)), max(1, round(h * _MASK_SCALE)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    scaled = FaceLandmarks(face.points * np.array([size[0] / w, size[1] / h], np.float32))
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    masks, colour = _region_masks_at(small, scaled, ycc)
    # Each pixel passes the wide skin test at full resolution too: a shrunk pixel on a fringe averages dark strands
    # of hair with the skin between them.
    near_skin = _within_skin(ycc, *colour) if colour is not None else np.ones((h, w), bool)
    min_piece = int((_MIN_PIECE * face.height) ** 2)
    # The enlarged outlines are a little generous: they keep out of the features and of each other here.
    taken = np.logical_or.reduce(list(facial_features((h, w), face).values()))
    out = {}
    for name, mask in masks.items():
        enlarged = cv2.resize(mask.view(np.uint8) * np.uint8(255), (w, h), interpolation=cv2.INTER_LINEAR)
        skin = (enlarged >= _ENLARGED_FROM) & near_skin & ~taken
        out[name] = _connected_to(skin, skin, min_piece)
        taken |= out[name]
    return out


def _region_masks_at(rgb: np.ndarray, face: FaceLandmarks, full_ycc: np.ndarray):
    """The five regions' masks of `rgb`, a shrunk copy of the view `full_ycc` (in YCrCb, whose fine texture
    tells hair from skin), and the skin colour they grew over: YCrCb median and spread, None where there was
    too little skin to learn it from.

    Each region starts from the landmarks, inside the FaceMesh oval, and grows past it into the skin that
    carries on from it: the forehead up to the hairline and out to the temples, the cheeks and chin out to
    the side of the face and the jaw line (not down the neck). Hair, background and anything else not
    skin-coloured, or not connected to the region, stays out; so do eyes, brows, lips and nostrils.
    Cuts follow the face's own axes (landmark 10 to 152), so a tilted head gets the same regions.
    """
    shape = rgb.shape[:2]
    p = face.points
    unit = face.height
    oval_pts = p[list(_OVAL)]
    oval = _poly(shape, oval_pts)
    features = np.logical_or.reduce(list(facial_features(shape, face).values()))
    yy, xx = np.ogrid[0:shape[0], 0:shape[1]]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    image_right = on_patients_left(face, xx, yy)

    # Face axes: v runs down from landmark 10 (0) to the chin, landmark 152 (1); u runs across.
    top = p[TOP].astype(np.float64)
    down = p[CHIN] - top
    down /= max(float(np.linalg.norm(down)), 1e-6)
    across = np.array([-down[1], down[0]])

    def v_of(pts):
        return (pts - top) @ down / unit

    def u_of(pts):
        return (pts - top) @ across / unit

    xr, yr = (xx - top[0]) / unit, (yy - top[1]) / unit
    v = (xr * down[0] + yr * down[1]).astype(np.float32)
    u = (xr * across[0] + yr * across[1]).astype(np.float32)

    brow_low = float(v_of(p[list(_BROW_LOW)]).max())  # forehead above, cheeks below
    lips_bottom = float(v_of(p[list(_LIPS)]).max())
    mouth_u, mouth_v = u_of(p[[_MOUTH_RIGHT, _MOUTH_LEFT]]), v_of(p[[_MOUTH_RIGHT, _MOUTH_LEFT]])
    nose = _hull(shape, p[list(_NOSE)])
    grown_nose = _hull(shape, p[list(_NOSE)], 0.02 * unit)
    # The eyelids between brow and eye: each eye's outline carried up past the brow.
    lift = 0.2 * unit * down
    lids = _hull(shape, np.concatenate([p[list(_RIGHT_EYE)], p[list(_RIGHT_EYE)] - lift]), _EYE_GROW * unit) \
        | _hull(shape, np.concatenate([p[list(_LEFT_EYE)], p[list(_LEFT_EYE)] - lift]), _EYE_GROW * unit)

    # Where each region may be: inside the oval from the landmarks, and the band just outside it.
    above = v < brow_low
    upper = oval_pts[v_of(oval_pts) < brow_low]
    cap = _hull(shape, np.concatenate([upper, upper - _FOREHEAD_REACH * unit * down]), _SIDE_REACH * unit)
    eyes = p[list(_RIGHT_EYE + _LEFT_EYE)]
    ear_level = (v > float(v_of(eyes).mean())) & (v < float(mouth_v.mean()))
    # The oval grown by an ellipse: far sideways, little downwards, so the chin ends just below landmark 152
    # and the outline stays round.
    ellipse = _DISK[:, :1] * (_SIDE_REACH * unit * across) + _DISK[:, 1:] * (_CHIN_MARGIN * unit * down)
    band = _hull(shape, (oval_pts[:, None, :] + ellipse[None]).reshape(-1, 2))
    band = (band & ~ear_level) | _hull(shape, oval_pts, _EAR_REACH * unit)
    reach = (oval | (cap & above & (v >= -_FOREHEAD_REACH)) | (band & ~above)) & ~features
    chin_zone = (v > lips_bottom + 0.01) & (u > mouth_u.min() - 0.08) & (u < mouth_u.max() + 0.08)
    # Between the eyes, down to their lower lids, is the bridge of the nose, not cheek.
    inner_u = u_of(p[[_RIGHT_EYE_INNER, _LEFT_EYE_INNER]])
    bridge = (u > inner_u.min()) & (u < inner_u.max()) & (v < float(v_of(eyes).max())) & oval & ~above & ~lids
    cheeks = reach & ~above & ~grown_nose & ~chin_zone & ~lids & ~bridge
    zones = {
        "forehead": reach & above & ~nose,
        "nose": (nose | bridge) & ~features,
        "left_cheek": cheeks & image_right,
        "right_cheek": cheeks & ~image_right,
        "chin": reach & chin_zone & ~above & ~grown_nose,
    }
    # The landmark-based regions, which seed the growth (the nose may stick out of a turned face's oval).
    core = {name: zone if name == "nose" else zone & oval for name, zone in zones.items()}
    ycc, med, mad = _skin_colour(rgb, core["left_cheek"] | core["right_cheek"] | core["forehead"])
    if med is None:
        skin = near_skin = oval | zones["nose"]  # no skin to learn the colour from: keep to the landmarks
    else:
        near_skin = _within_skin(ycc, med, mad)  # wide: red papules pass, hair and shade do not
        skin = near_skin & (oval | _plain_skin(ycc, med, mad, _fine_texture(full_ycc, shape)))
    kernel, k = _disk(_SMOOTH * unit)
    min_piece = int((_MIN_PIECE * unit) ** 2)
    e = _reach_px(_EDGE_GROW * unit)
    masks = {}
    for name, zone in zones.items():
        masks[name] = np.zeros(shape, bool)
        # Everything below stays within the zone grown by the kernels' reach: the same masks, far fewer pixels.
        box = _bounds(zone, max(k, e))
        if box is None:
            continue
        zone, seed = zone[box], core[name][box]
        grown = _connected_to(zone & skin[box], seed & skin[box])
        # Opening can cut off bits that hung on by a thread (the neck under a shaded jaw): drop them again.
        kept = _connected_to(_smooth(grown, kernel, k) & zone, seed, min_piece)
        rim = _near(kept, _EDGE_GROW * unit) & zone & near_skin[box]
        masks[name][box] = _connected_to(kept | rim, kept) if kept.any() else kept
    return masks, (None if med is None else (med, mad))


def why_not_assessed(masks: dict[str, np.ndarray], patch_px: int) -> dict[str, str]:
    """The regions that do not show enough skin to be assessed, each with why (pipeline.types.NOT_ASSESSED_WHY):
    a cheek far smaller than the other is turned away; any region under one patch of skin is not visible."""
    area = {r: int(masks[r].sum()) for r in REGIONS}
    minimum = _MIN_REGION_PATCHES * patch_px * patch_px
    why = {r: "not_visible" for r in REGIONS if area[r] < minimum}
    cheeks = ("left_cheek", "right_cheek")
    bigger = max(area[c] for c in cheeks)
    for c in cheeks:
        if area[c] < _HIDDEN_CHEEK_RATIO * bigger:
            why[c] = "turned_away"
    return why


def side_masks(rgb: np.ndarray, face: SideFace) -> dict[str, np.ndarray]:
    """Skin masks of a turned face (coordinates of `rgb`, matching `face`): the forehead above the eyes and
    the cheek turned to the camera, between the nose and the ear side of the face; eyes, mouth and nose tip
    kept out. The other cheek, the nose and the chin are not assessed from such a view."""
    shape = rgb.shape[:2]
    unit = face.height
    x0, y0, x1, y1 = face.box
    eye_y = float(face.eyes[:, 1].mean())
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    # A profile's box may end short of the nose.
    left, right = min(x0, float(face.nose[0])), max(x1, float(face.nose[0]))
    inside = (xx >= left) & (xx <= right) & (yy >= y0 - 0.1 * unit) & (yy <= y1)
    away = 0.06 * unit  # from the nose towards the ear
    towards_ear = xx > face.nose[0] + away if face.nose[0] < (x0 + x1) / 2 else xx < face.nose[0] - away
    features = np.zeros(shape, bool)
    for (cx, cy), r in [(p, 0.08 * unit) for p in face.eyes] + [(face.mouth, 0.1 * unit), (face.nose, 0.08 * unit)]:
        features |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    zones = {r: np.zeros(shape, bool) for r in REGIONS}
    zones["forehead"] = inside & (yy < eye_y - 0.08 * unit) & ~features
    zones[face.visible_cheek] = inside & towards_ear & (yy > eye_y + 0.04 * unit) & ~features
    ycc, med, mad = _skin_colour(rgb, zones[face.visible_cheek])
    if med is None:
        return {r: np.zeros(shape, bool) for r in REGIONS}
    # The stricter test of skin past the landmarks: no hair (texture), no pale wall; nothing to grow from here.
    skin = _within_skin(ycc, med, mad) & _plain_skin(ycc, med, mad)
    kernel, k = _disk(_SMOOTH * unit)
    return {r: _smooth(zone & skin, kernel, k) & zone if zone.any() else zone for r, zone in zones.items()}
