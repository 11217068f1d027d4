"""The whole pipeline on real photos with the shipped model."""
import numpy as np

from pipeline.assess import assess, prepare
from pipeline.types import REGIONS, Metadata
from tests.conftest import THREE_QUARTER, encode, shared_image


def test_portrait_is_assessed_with_lesions_inside_the_face(portrait_rgb, model):
    p = prepare(encode(portrait_rgb))
    result = assess([p], Metadata(age=22, sex="female"), model=model)
    assert result.ok
    assert all(result.regions[r].assessed for r in REGIONS)
    x0, y0, x1, y1 = (np.array(p.view.offset * 2) + np.array([0, 0, *p.view.pixels.shape[1::-1]]) / p.view.factor)
    for lesion in result.lesions:
        cx, cy = lesion.center
        assert x0 <= cx <= x1 and y0 <= cy <= y1
        assert lesion.type != "normal"
    counted = sum(sum(r.counts.values()) for r in result.regions.values())
    assert counted == len(result.lesions)
    assert result.scores.grade in ("clear", "mild", "moderate", "severe", "very severe")
    assert result.advice.notice and result.model["name"]


def test_three_quarter_view_reports_the_hidden_cheek_as_not_assessed(model):
    result = assess([prepare(encode(shared_image(THREE_QUARTER)))], model=model)
    assert result.ok
    hidden = [r for r in ("left_cheek", "right_cheek") if not result.regions[r].assessed]
    assert len(hidden) == 1 and result.scores.not_assessed == hidden
    assert not any(l.region == hidden[0] for l in result.lesions)
    assert result.scores.hayashi is not None  # from the visible half


def _closeup(rgb, region):
    """The photo cropped to one region's skin, as a patient's close-up of it would frame it."""
    view = prepare(encode(rgb)).view
    ys, xs = np.nonzero(view.masks[region])
    (x0, y0), (x1, y1) = view.to_photo(xs.min(), ys.min()), view.to_photo(xs.max(), ys.max())
    return np.ascontiguousarray(rgb[int(y0): int(y1), int(x0): int(x1)])


def test_region_photos_alone_leave_other_regions_not_assessed(model):
    rgb = shared_image(THREE_QUARTER)
    visible = "left_cheek" if prepare(encode(rgb)).view.assessed["left_cheek"] else "right_cheek"
    result = assess([prepare(encode(_closeup(rgb, visible)), region=visible)], model=model)
    assert result.ok, result.quality.reasons
    assert [r for r in REGIONS if result.regions[r].assessed] == [visible]
    assert set(result.scores.not_assessed) == set(REGIONS) - {visible}
    assert {r: result.regions[r].why for r in REGIONS} == {r: None if r == visible else "no_photo" for r in REGIONS}


def test_a_whole_face_sent_as_one_region_is_assessed_on_that_region_only(portrait_rgb, model):
    """A patient asked for their forehead sends a selfie of the whole face (or the same selfie for every region):
    the forehead is cut from the face by its landmarks, and the rest of the face's lesions are not counted as the
    forehead's. Sent for each region, the selfie finds per region what it finds sent once as the whole face, give
    or take the marks that move with the detector's crop (the region's own box instead of the whole skin's)."""
    whole = assess([prepare(encode(portrait_rgb))], model=model)

    def found(result, region):
        return sum(result.regions[region].counts.values())

    assert sum(found(whole, r) for r in REGIONS) >= found(whole, "forehead") + 5  # the rest of the face counts
    forehead = prepare(encode(portrait_rgb), region="forehead")
    assert forehead.quality.ok and forehead.view.landmarks is not None and not forehead.view.closeup
    alone = assess([forehead], model=model)
    assert [r for r in REGIONS if alone.regions[r].assessed] == ["forehead"]
    assert {l.region for l in alone.lesions} <= {"forehead"}
    assert abs(found(alone, "forehead") - found(whole, "forehead")) <= 2
    each = assess([prepare(encode(portrait_rgb), region=r) for r in REGIONS], model=model)
    assert all(each.regions[r].assessed and abs(found(each, r) - found(whole, r)) <= 2 for r in REGIONS)


def test_a_whole_face_that_hides_the_declared_region_is_sent_back():
    """A three-quarter selfie sent for the cheek it turns away: the patient is asked for a photo of that area,
    rather than the face being read as a close-up of the cheek."""
    rgb = shared_image(THREE_QUARTER)
    hidden = next(r for r in ("left_cheek", "right_cheek") if not prepare(encode(rgb)).view.assessed[r])
    p = prepare(encode(rgb), region=hidden)
    assert not p.quality.ok and [r.code for r in p.quality.reasons] == ["region_not_shown"] and p.view is None
    shown = "left_cheek" if hidden == "right_cheek" else "right_cheek"
    assert prepare(encode(rgb), region=shown).quality.ok


def test_a_whole_face_sent_as_a_region_on_its_side_is_read_as_a_face_and_upside_down_as_a_close_up(portrait_rgb):
    """FaceMesh follows a face on its side, so its landmarks cut the region, and the photo check says the face turned
    upright is a usable full-face photo (a by-region check-in takes it as one); it fits an upside-down face as if it
    were upright, so an upside-down selfie is read as the close-up it was declared as."""
    from work.jobs import check_photo

    sideways = encode(np.ascontiguousarray(np.rot90(portrait_rgb, k=1)))
    assert prepare(sideways, region="forehead").view.landmarks is not None
    verdict = check_photo(sideways, "forehead")
    assert verdict.ok and verdict.face_regions == tuple(REGIONS) and verdict.rotated == 90
    upside_down = encode(np.ascontiguousarray(np.rot90(portrait_rgb, k=2)))
    assert prepare(upside_down, region="forehead").view.closeup
    assert check_photo(upside_down, "forehead").face_regions == ()


def test_a_region_photo_with_two_faces_is_sent_back_as_a_face_photo_would_be(portrait_rgb):
    p = prepare(encode(np.hstack([portrait_rgb, portrait_rgb])), region="chin")
    assert not p.quality.ok and [r.code for r in p.quality.reasons] == ["several_faces"]


def test_a_close_up_facemesh_fits_a_face_to_is_still_read_as_a_close_up():
    """FaceMesh fits a face to this nose close-up (lesion-types) and to the lower half of a face; neither is a
    whole face, so both are read as the close-up they were declared as."""
    import pytest

    from pipeline.faces import detect_faces
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "lesion-types" / "train"
    paths = [folder / "cyst" / "cysts_136_jpg.rf.56d66f5cd0b56bfef525df544713f433.jpg",
             folder / "nodule" / "nodules_133_jpg.rf.7b90dbd7d01ba5896b9d45622c81fbf6.jpg"]
    if not all(path.is_file() for path in paths):
        pytest.skip(f"lesion-types close-ups not found at {folder}")
    for path in paths:
        p = prepare(path.read_bytes(), region="nose")
        assert detect_faces(p.photo.pixels), "FaceMesh's guess"
        assert p.view.closeup and p.view.landmarks is None, path.name


def test_a_failed_photo_makes_the_visit_ask_for_a_retake(portrait_rgb, model):
    good = prepare(encode(portrait_rgb))
    dark = prepare(encode((portrait_rgb * 0.1).astype(np.uint8)))
    result = assess([good, dark], model=model)
    assert not result.ok and result.scores is None
    assert result.quality.reasons[0].code == "too_dark" and result.quality.reasons[0].message.startswith("Photo 2")


def test_twelve_megapixel_photo_gives_the_same_regions_as_the_small_one(portrait_rgb, model):
    import cv2

    big = cv2.resize(portrait_rgb, (4000, 4000), interpolation=cv2.INTER_CUBIC)
    small = assess([prepare(encode(portrait_rgb))], model=model)
    large = assess([prepare(encode(big, quality=95))], model=model)
    assert large.ok
    assert {r: v.assessed for r, v in large.regions.items()} == {r: v.assessed for r, v in small.regions.items()}
    # boxes come back in the large photo's pixels
    assert all(l.x < 4000 and l.y < 4000 for l in large.lesions)
    if small.lesions:
        assert max(l.x for l in large.lesions) > 512 or not large.lesions


def test_a_big_photo_is_shrunk_by_halvings_to_what_one_area_resize_gives(portrait_rgb):
    """pipeline.preprocess.shrink halves first (OpenCV's fast 2 x 2 averaging), then area-resizes the rest: the
    size asked for exactly, odd sides included, and the pixels of one area resize within JPEG noise."""
    import cv2

    from pipeline.preprocess import shrink

    big = cv2.resize(portrait_rgb, (4001, 3001), interpolation=cv2.INTER_CUBIC)
    for size in ((1280, 960), (1000, 750), (333, 250)):
        got = shrink(big, size)
        once = cv2.resize(big, size, interpolation=cv2.INTER_AREA)
        assert got.shape == once.shape == (size[1], size[0], 3)
        assert np.abs(got.astype(int) - once).mean() < 1.5
    assert shrink(big[:7, :9], (2, 3)).shape == (3, 2, 3)


def test_a_profile_facemesh_cannot_fit_is_assessed_on_the_side_it_shows(model):
    """A clinical profile (ACNE04 training photo, nose to the image's left): FaceMesh finds no face, the face
    detector does, and the patient's left cheek and forehead are assessed instead of 'no face'."""
    from pipeline.faces import detect_faces
    from tests.conftest import shared_file

    p = prepare(shared_file("acne04/images/levle1_155.jpg").read_bytes())
    assert detect_faces(p.photo.pixels) == []
    assert p.quality.ok and p.view is not None and p.view.landmarks is None
    assert {r for r, ok in p.view.assessed.items() if ok} == {"forehead", "left_cheek"}
    result = assess([p], model=model)
    assert result.ok and result.scores.not_assessed == ["nose", "right_cheek", "chin"]
    assert {r: result.regions[r].why for r in result.scores.not_assessed} == dict.fromkeys(
        ["nose", "right_cheek", "chin"], "turned_away")  # the patient is told why, and what to send instead
    assert all(l.region in ("forehead", "left_cheek") for l in result.lesions)
    assert result.image_grade is None  # the whole-face grade needs the whole face


def test_a_close_up_of_skin_sent_as_the_whole_face_is_told_there_is_no_face():
    """A cheek close-up (lesion-types): the face detector 'finds' a turned face in it (score 0.55), which must not
    be assessed through regions made up from it; the patient is told there is no face (and offered close-ups)."""
    from pipeline.faces import _face_detector, _for_detection
    from tests.conftest import shared_file

    data = shared_file("lesion-types/train/pustule/aug_188_jpg.rf.1c003c8513a30a6761420468633cdddd.jpg").read_bytes()
    p = prepare(data)
    assert _face_detector().process(_for_detection(p.photo.pixels)[0]).detections, "the detector's weak guess"
    assert not p.quality.ok and [r.code for r in p.quality.reasons] == ["no_face"] and p.view is None
    assert prepare(data, "left_cheek").quality.ok  # the same photo declared as a close-up is assessed


def test_a_photo_with_no_face_is_offered_as_a_close_up_only_when_it_plainly_shows_skin():
    """The photo check says when a photo sent as the whole face, with no face found, would pass as a close-up:
    the patient is then asked which part of the face it shows. Clinical cheek close-ups (ACNE04 training photos
    FaceMesh finds no face in) are; a grey page, noise, a drawing and a black frame are not."""
    import pytest

    from tests.bad_input import images
    from tests.conftest import SHARED_DATA
    from work.jobs import check_photo

    cheeks = [SHARED_DATA / "acne04" / "images" / f"{name}.jpg" for name in ("levle0_57", "levle2_46")]
    if not all(path.is_file() for path in cheeks):
        pytest.skip(f"ACNE04 photos not found at {cheeks[0].parent}")
    for path in cheeks:
        verdict = check_photo(path.read_bytes(), None)
        assert not verdict.ok and verdict.codes == ("no_face",) and verdict.closeup, path.name
    some_photo = cheeks[0].read_bytes()
    for make in (images.noise, images.text_screenshot, images.drawn_shape, images.black_frame):
        verdict = check_photo(make(some_photo), None)
        assert verdict.codes == ("no_face",) and not verdict.closeup, make.__name__
    assert not check_photo(cheeks[0].read_bytes(), "chin").closeup  # only a photo sent as the whole face


def test_a_forehead_under_a_fringe_is_not_visible_and_the_result_says_so(portrait_rgb, model):
    """Hair down over the brows: the forehead shows no skin, so it is not assessed, and why is "not_visible"
    (the patient is told too little of it shows); the rest of the face is assessed as before."""
    from pipeline.faces import detect_faces

    face = detect_faces(portrait_rgb)[0]
    lids = int(face.points[[159, 386], 1].min() - 0.02 * face.height)  # down to just above the upper eyelids
    x0, x1 = int(face.points[:, 0].min()) - 20, int(face.points[:, 0].max()) + 20
    fringe = portrait_rgb.copy()
    fringe[:lids, max(0, x0):x1] = (40, 28, 20)  # dark hair
    result = assess([prepare(encode(fringe))], model=model)
    assert result.ok
    assert {r: (result.regions[r].assessed, result.regions[r].why) for r in REGIONS} == {
        "forehead": (False, "not_visible"), **{r: (True, None) for r in REGIONS if r != "forehead"}}
