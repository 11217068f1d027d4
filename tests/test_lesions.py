"""Detector output -> lesions: heatmap peaks become lesions once each, acne apart from non-acne marks, in the
regions' skin only, with boxes in photo pixels and types from the classifiers' probabilities."""
import dataclasses

import cv2
import numpy as np
import pytest

from pipeline.detector import Detection, decode, pad_to_stride
from pipeline.lesions import (SKIN_BOX_MARGIN, acne_type, detect_on_skin, mark_type, region_of, to_lesions,
                              whole_closeup)
from pipeline.patches import CanonicalView
from pipeline.preprocess import PATCH_SIZE
from pipeline.types import ACNE_TYPES, CLASSES
from tests.conftest import shared_file

STRIDE = 2  # the shipped detector's


def _maps(shape=(32, 32), peaks=(), size=12.0):
    """A network output: logits -20 everywhere, given (kind, row, col, probability) peaks, log sizes."""
    out = np.full((4, *shape), -20.0, np.float32)
    out[2:] = np.log(size)
    for kind, r, c, p in peaks:
        out[kind, r, c] = np.log(p / (1 - p))
    return out


def _view(factor=2.0, offset=(100, 50), size=128, region="forehead"):
    masks = {r: np.zeros((size, size), bool) for r in ("forehead", "nose", "left_cheek", "right_cheek", "chin")}
    masks[region][:, :] = True
    return CanonicalView(np.zeros((size, size, 3), np.uint8), factor, offset, masks,
                         {r: "not_visible" for r in masks if r != region}, None)


def test_each_peak_above_its_threshold_is_one_detection_at_the_cell_centre():
    out = _maps(peaks=[(0, 5, 7, 0.9), (0, 20, 20, 0.2), (1, 10, 25, 0.6)])
    out[0, 5, 8] = 0.0  # a shoulder next to the peak: not a second lesion, pulls the centre a little right
    dets = decode(out, (0.3, 0.5), stride=STRIDE)
    assert [(d.kind, round(d.score, 2)) for d in dets] == [(0, 0.9), (1, 0.6)]
    acne = dets[0]
    assert acne.y == pytest.approx((5 + 0.5) * STRIDE)
    assert (7 + 0.5) * STRIDE < acne.x < (8 + 0.5) * STRIDE
    assert acne.w == pytest.approx(12.0)


def test_a_mark_seen_by_both_heatmaps_counts_once_as_the_stronger_kind():
    dets = decode(_maps(peaks=[(0, 10, 10, 0.55), (1, 11, 10, 0.8)]), 0.3)
    assert [d.kind for d in dets] == [1]


def test_two_lesions_two_cells_apart_stay_two():
    dets = decode(_maps(peaks=[(0, 10, 10, 0.8), (0, 10, 12, 0.7)]), 0.3)
    assert len(dets) == 2


def test_padding_is_never_a_lesion():
    out = _maps(peaks=[(0, 30, 30, 0.9)])
    assert decode(out, 0.3, valid=(50, 50), stride=STRIDE) == []
    assert len(decode(out, 0.3, valid=(62, 62), stride=STRIDE)) == 1
    x, valid = pad_to_stride(np.zeros((100, 70, 3), np.uint8))
    assert x.shape == (1, 3, 128, 96) and valid == (100, 70)


def test_lesions_outside_the_regions_are_dropped_and_boxes_are_in_photo_pixels():
    view = _view(factor=2.0, offset=(100, 50), size=128)
    view.masks["forehead"][:, 64:] = False
    inside, outside = Detection(40, 28, 10, 20, 0.9, 0), Detection(100, 28, 10, 10, 0.9, 0)
    lesion, = to_lesions(view, [inside, outside], ["papule", "papule"])
    assert lesion.region == "forehead" and lesion.type == "papule" and lesion.confidence == pytest.approx(0.9)
    assert lesion.center == pytest.approx((100 + 40 / 2, 50 + 28 / 2), abs=1)
    assert (lesion.w, lesion.h) == (5, 10)


def test_unassessed_regions_hold_no_lesions():
    view = _view(region="left_cheek")
    view.why_not["left_cheek"] = "not_visible"
    assert region_of(view, 10, 10) is None
    assert to_lesions(view, [Detection(10, 10, 8, 8, 0.9, 0)], ["comedone"]) == []


def test_cheek_lesions_carry_their_side():
    lesion, = to_lesions(_view(region="left_cheek"), [Detection(32, 32, 8, 8, 0.9, 0)], ["papule"])
    assert lesion.side == "left"


@pytest.mark.parametrize("probs, expected", [
    ((0.1, 0.7, 0.1, 0.1), "papule"),
    ((0.8, 0.1, 0.05, 0.05), "comedone"),
    ((0.55, 0.25, 0.15, 0.05), "papule"),  # papule + pustule at the calibrated share (0.3) count as inflamed
    ((0.1, 0.1, 0.1, 0.7), "nodule"),
    ((0.3, 0.1, 0.1, 0.5 - 0.05), "comedone"),  # a nodule sends the patient to a doctor: only when clearly one
], ids=["papule", "comedone", "inflamed-at-the-share", "clear-nodule", "doubtful-nodule"])
def test_acne_type_is_the_most_probable_with_a_stricter_nodule(probs, expected):
    assert acne_type(np.array(probs)) == expected
    assert len(probs) == len(ACNE_TYPES)


def test_a_non_acne_mark_is_never_called_acne_nor_normal():
    probs = np.zeros(len(CLASSES))
    probs[CLASSES.index("papule")] = 0.6
    probs[CLASSES.index("normal")] = 0.3
    probs[CLASSES.index("scar")] = 0.06
    probs[CLASSES.index("spot")] = 0.04
    assert mark_type(probs) == "scar"


def test_the_detector_sees_only_the_box_of_the_regions_skin_and_positions_come_back_in_the_view():
    class Recorder:
        view = "enhanced"

        def detect(self, pixels, thresholds=None):
            self.shape, self.thresholds = pixels.shape, thresholds
            return [Detection(5, 6, 8, 8, 0.9, 0)]

    view = _view(size=200)
    view.masks["forehead"][:] = False
    view.masks["forehead"][100:120, 50:90] = True
    recorder = Recorder()
    det, = detect_on_skin(recorder, view, (0.1, 0.2))
    margin = SKIN_BOX_MARGIN
    assert recorder.shape[:2] == (20 + 2 * margin, 40 + 2 * margin) and recorder.thresholds == (0.1, 0.2)
    assert (det.x, det.y) == (50 - margin + 5, 100 - margin + 6)
    view.why_not["forehead"] = "not_visible"
    assert detect_on_skin(recorder, view) == []


def test_a_close_up_where_no_acne_passes_is_looked_at_again_smaller_and_a_face_is_not():
    class Scripted:
        """Nothing at the size it is first shown; at a smaller size, two peaks on one big lesion and a third
        lesion apart from it."""
        view = "raw"

        def __init__(self):
            self.sizes = []

        def detect(self, pixels, thresholds=None):
            self.sizes.append(pixels.shape[:2])
            if len(self.sizes) == 1:
                return [Detection(30, 30, 8, 8, 0.9, 1)]  # a mole, not acne
            return [Detection(20, 20, 12, 12, 0.6, 0), Detection(23, 21, 10, 10, 0.4, 0),
                    Detection(40, 40, 6, 6, 0.3, 0)]

    face = _view(factor=1.0, offset=(0, 0), size=120)
    face.masks["forehead"][:] = False
    face.masks["forehead"][24:96, 24:96] = True  # the skin box is then the whole 120 px view
    detector = Scripted()
    assert [d.kind for d in detect_on_skin(detector, face)] == [1] and detector.sizes == [(120, 120)]

    closeup = dataclasses.replace(face, closeup=True)
    detector = Scripted()
    found = detect_on_skin(detector, closeup)
    assert detector.sizes == [(120, 120), (40, 40)]  # CLOSER_LOOK: a third
    acne = [(d.x, d.y, d.w) for d in found if d.kind == 0]
    assert acne == [(60, 60, 36), (120, 120, 18)]  # back in the view's pixels; the weaker peak on the big one gone


def test_a_close_up_where_nothing_passes_keeps_the_faint_acne_peaks_the_classifier_calls_acne():
    from pipeline.lesions import FAINT_ACNE_MIN

    class Faint:
        """No acne at the detector's thresholds at either size; below them, two faint peaks at full size and one
        at a third; a mole where the first faint peak is. Counts its network passes."""
        view = "raw"
        thresholds = (0.175, 0.375)

        def __init__(self):
            self.passes = 0

        def detect(self, pixels, thresholds=None):
            return self.detect_each(pixels, thresholds or self.thresholds)[0]

        def detect_each(self, pixels, *thresholds):
            self.passes += 1
            return [self._peaks(pixels, t) for t in thresholds]

        def _peaks(self, pixels, thresholds):
            if thresholds != (FAINT_ACNE_MIN, float("inf")):
                return [Detection(30, 30, 8, 8, 0.5, 1)] if pixels.shape[0] == 120 else []
            if pixels.shape[0] == 120:
                return [Detection(31, 30, 10, 10, 0.15, 0), Detection(80, 80, 10, 10, 0.14, 0)]
            return [Detection(20, 10, 4, 4, 0.13, 0)]

    class Marks:
        """The 8-class classifier: the first patch acne (0.6 of its mass on the acne types), the others not."""

        def __init__(self):
            self.patches = 0

        def predict(self, patches):
            rows = []
            for i in range(len(patches)):
                row = np.zeros(len(CLASSES), np.float32)
                acne = 0.6 if self.patches + i == 0 else 0.3
                row[CLASSES.index("comedone")], row[CLASSES.index("normal")] = acne, 1 - acne
                rows.append(row)
            self.patches += len(patches)
            return np.array(rows)

    closeup = dataclasses.replace(_view(factor=1.0, offset=(0, 0), size=120), closeup=True)
    marks, detector = Marks(), Faint()
    found = detect_on_skin(detector, closeup, marks_model=marks)
    assert [(d.x, d.y, d.kind) for d in found] == [(31, 30, 0)]  # the mole on it gone, the unconfirmed two too
    assert marks.patches == 3 and detector.passes == 2  # the faint peaks come from the two looks' own passes
    assert [d.kind for d in detect_on_skin(Faint(), closeup)] == [1]  # without the classifier: the closer look only
    face, marks = _view(factor=1.0, offset=(0, 0), size=120), Marks()
    detector = Faint()
    assert [d.kind for d in detect_on_skin(detector, face, marks_model=marks)] == [1]
    assert detector.passes == 1 and marks.patches == 0  # a face is never looked at again


def test_a_nose_of_blackheads_the_detector_leaves_as_pores_is_marked_with_comedones():
    """A blackhead close-up (training groups) where no acne passes at its size nor a third of it: its faint peaks
    that the 8-class classifier calls acne are kept, so the patient is not told there is no acne."""
    from pipeline import detector as detector_module
    from pipeline.assess import assess, prepare
    from pipeline.lesions import CLOSER_LOOK, skin_box_pixels

    path = shared_file("lesion-types/train/blackhead/b15_jpg.rf.c103f2131aab4faf56f77d706de5c120.jpg")
    prepared = prepare(path.read_bytes(), "nose")
    detector = detector_module.load()
    pixels, _ = skin_box_pixels(prepared.view, detector.view)
    third = cv2.resize(pixels, None, fx=CLOSER_LOOK, fy=CLOSER_LOOK, interpolation=cv2.INTER_AREA)
    assert not [d for image in (pixels, third) for d in detector.detect(image) if d.kind == 0]
    acne = [lesion for lesion in assess([prepared]).lesions if lesion.type in ACNE_TYPES]
    assert acne and {lesion.type for lesion in acne} == {"comedone"}
    assert all(lesion.region == "nose" for lesion in acne)


def test_a_clear_nose_close_up_gets_no_acne_from_faint_peaks_the_classifier_calls_skin():
    """The nose of an ACNE04 tune face where the experts marked nothing, cut out and sent as a close-up: its
    faint peaks (heat 0.16-0.17) are on skin the 8-class classifier does not call acne."""
    from pipeline.assess import assess, prepare

    path = shared_file("acne04/images/levle0_182.jpg")
    x0, y0, x1, y1 = 373, 250, 526, 455  # the nose region's box on that face
    nose = cv2.imread(str(path))[y0:y1, x0:x1]
    nose = cv2.resize(nose, None, fx=320 / (x1 - x0), fy=320 / (x1 - x0), interpolation=cv2.INTER_CUBIC)
    prepared = prepare(cv2.imencode(".jpg", nose, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes(), "nose")
    assert prepared.quality.ok and prepared.view.closeup
    assert not [lesion for lesion in assess([prepared]).lesions if lesion.type in ACNE_TYPES]


def test_a_close_up_names_a_lesion_s_type_from_half_the_close_up_as_the_type_classifier_learnt_close_ups():
    from pipeline.lesions import lesion_patches
    from pipeline.patches import closeup_view
    from tests.conftest import SHARED_DATA

    path = next((SHARED_DATA / "lesion-types" / "train" / "pustule").glob("*.jpg"), None)
    if path is None:
        pytest.skip(f"no close-ups under {SHARED_DATA}")

    close = closeup_view(np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1]), "chin")
    h, w = close.pixels.shape[:2]
    assert close.type_window == max(PATCH_SIZE, min(h, w) // 2) > PATCH_SIZE
    centre = [Detection(w / 2, h / 2, 10.0, 10.0, 0.9, 0)]
    patch = lesion_patches(close, centre, close.type_window)
    assert patch.shape == (1, PATCH_SIZE, PATCH_SIZE, 3)
    # the window shrunk to a patch: the patch is the close-up's centre half, not a few of its pixels
    half = close.pixels[h // 2 - close.type_window // 2: h // 2 + close.type_window // 2,
                        w // 2 - close.type_window // 2: w // 2 + close.type_window // 2]
    shrunk = cv2.resize(half, (PATCH_SIZE, PATCH_SIZE), interpolation=cv2.INTER_AREA)
    assert np.abs(patch[0].astype(int) - shrunk.astype(int)).mean() < 3
    assert _view().type_window == PATCH_SIZE  # a face keeps the patch it was always typed on
    # the whole close-up, as the classifier learnt close-ups (models.patchset): the photo's shorter side shrunk to
    # CLOSEUP_TYPE_SIDE, enhanced there, its centre square shrunk to a patch
    from models.patchset import _closeup_image

    learnt = _closeup_image(path)
    shrunk = cv2.resize(learnt, (PATCH_SIZE, PATCH_SIZE), interpolation=cv2.INTER_AREA)
    assert np.abs(whole_closeup(close).astype(int) - shrunk.astype(int)).mean() < 3
    # ... and whole, at the size a type classifier trained on whole close-ups takes them
    assert np.abs(whole_closeup(close, learnt.shape[0]).astype(int) - learnt.astype(int)).mean() < 3
    assert close.closeup and not _view().closeup


class _TypesByBrightness:
    """A type classifier whose probabilities are chosen by whether the patch is dark or light on average (the test
    paints the lesion's window dark in a light view)."""

    whole_closeup_size = PATCH_SIZE

    def __init__(self, by_level):
        self.by_level = by_level

    def predict(self, patches):
        return np.array([self.by_level["lesion" if p.mean() < 100 else "whole"] for p in patches],
                        np.float32).reshape(-1, 4)


def test_in_a_close_up_a_lesion_s_type_is_weighed_with_the_whole_close_up_s():
    from pipeline.lesions import classify

    leaning_papule = [0.1, 0.45, 0.35, 0.1]
    by_level = {"lesion": leaning_papule, "whole": [0.05, 0.05, 0.85, 0.05]}
    view = _view(factor=1.0, offset=(0, 0))  # 128 px
    view.pixels[:] = 200
    view.pixels[32:96, 32:96] = 10  # the lesion's 64 px window: a quarter of the whole close-up's picture
    detections = [Detection(64.0, 64.0, 10.0, 10.0, 0.9, 0)]
    types = _TypesByBrightness(by_level)
    on_a_face = classify(view, detections, types, types)
    closeup = dataclasses.replace(view, closeup=True, raw=np.full_like(view.pixels, 200))
    assert on_a_face == ["papule"] and classify(closeup, detections, types, types) == ["pustule"]
    # where the whole close-up is unsure, the lesion's own window decides
    by_level["whole"] = [0.25, 0.25, 0.25, 0.25]
    assert classify(closeup, detections, types, types) == ["papule"]


def test_a_close_up_of_one_big_nodule_is_marked_once_as_a_nodule():
    """A nodule that fills a close-up is many times larger than the lesions the detector learnt: at the close-up's
    assumed scale no acne passes, the closer look finds it, and it is one lesion, typed from the whole close-up."""
    from pipeline import detector as detector_module
    from pipeline.assess import assess, prepare
    from pipeline.lesions import skin_box_pixels

    path = shared_file("lesion-types/train/nodule/aug_143_jpg.rf.56660af19eed005c71c9774a0a30f3bd.jpg")
    prepared = prepare(path.read_bytes(), "chin")
    detector = detector_module.load()
    pixels, _ = skin_box_pixels(prepared.view, detector.view)
    assert not [d for d in detector.detect(pixels) if d.kind == 0]
    lesions = assess([prepared]).lesions
    assert [(lesion.region, lesion.type) for lesion in lesions] == [("chin", "nodule")]
