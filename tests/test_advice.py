import json

import pytest

from pipeline.advice import (
    CONTRAINDICATIONS,
    OPTIONS,
    RAISE_RULES,
    REFER_CODES,
    Findings,
    advise,
    load_adjustment_model,
    longer_than_a_year,
    red_flags,
)
from pipeline.advice_texts import TEXTS
from pipeline.types import Metadata

ADULT_F = dict(age=25, sex="female")
NO_FINDINGS = Findings()
PREGNANCY_AVOID = {
    "oral_isotretinoin:pregnancy",
    "oral_tetracyclines:pregnancy",
    "trimethoprim_sulfamethoxazole:pregnancy",
    "topical_tazarotene:pregnancy",
    "hormonal_therapy:pregnancy",
    "topical_retinoids:pregnancy",
}


@pytest.mark.parametrize(
    "grade, codes",
    [
        ("clear", ["gentle_skin_care"]),
        ("mild", ["topical_retinoid", "fixed_combination_retinoid", "fixed_combination_bpo", "salicylic_acid",
                  "azelaic_acid"]),
        ("moderate", ["fixed_combination_retinoid", "fixed_combination_bpo", "benzoyl_peroxide",
                      "topical_retinoid", "azelaic_acid"]),
        ("severe", ["fixed_combination_retinoid", "fixed_combination_bpo", "hormonal_therapy", "oral_antibiotic"]),
        ("very severe", ["fixed_combination_retinoid", "fixed_combination_bpo", "oral_antibiotic",
                         "oral_isotretinoin", "hormonal_therapy"]),
    ],
)
def test_ladder_without_contraindications(grade, codes):
    result = advise(grade, Metadata(**ADULT_F), NO_FINDINGS)
    assert result.advice_codes == codes
    assert result.avoid == [] and result.avoid_codes == []
    assert len(result.advice) == len(codes)


def test_prescription_phrased_as_ask_a_doctor_otc_as_suggestion():
    result = advise("very severe", Metadata(**ADULT_F), NO_FINDINGS)
    result_mild = advise("moderate", Metadata(**ADULT_F), NO_FINDINGS)
    for res in (result, result_mild):
        for code, line in zip(res.advice_codes, res.advice):
            expected = "Ask a doctor about" if OPTIONS[code].prescription else "You could try"
            assert line.startswith(expected), line
    assert "You could try a benzoyl peroxide wash or gel" in result_mild.advice
    assert any("isotretinoin" in line for line in result.advice)
    assert result.advice[0].endswith("(preferred)")


@pytest.mark.parametrize(
    "grade, metadata, present, absent, avoid",
    [
        # pregnant, possibly pregnant, breastfeeding (stored as pregnancy="yes")
        ("very severe", Metadata(**ADULT_F, pregnancy="yes"), {"fixed_combination_bpo"},
         {"oral_isotretinoin", "oral_antibiotic", "hormonal_therapy", "fixed_combination_retinoid"},
         PREGNANCY_AVOID),
        ("very severe", Metadata(**ADULT_F, pregnancy="unknown"), {"fixed_combination_bpo"},
         {"oral_isotretinoin", "oral_antibiotic", "hormonal_therapy", "fixed_combination_retinoid"},
         PREGNANCY_AVOID),
        ("mild", Metadata(**ADULT_F, pregnancy="yes"), {"fixed_combination_bpo", "azelaic_acid", "salicylic_acid"},
         {"topical_retinoid", "fixed_combination_retinoid"}, PREGNANCY_AVOID),
        ("moderate", Metadata(**ADULT_F, pregnancy="yes"), {"benzoyl_peroxide", "azelaic_acid",
                                                              "fixed_combination_bpo"},
         {"topical_retinoid", "fixed_combination_retinoid"}, PREGNANCY_AVOID),
        ("very severe", Metadata(**ADULT_F, pregnancy="no"), {"oral_isotretinoin", "hormonal_therapy"}, set(),
         set()),
        # age
        ("very severe", Metadata(age=11, sex="female"), {"fixed_combination_retinoid", "fixed_combination_bpo"},
         {"oral_isotretinoin", "oral_antibiotic", "hormonal_therapy"},
         {"oral_tetracyclines:under_12", "oral_isotretinoin:under_12"}),
        ("mild", Metadata(age=11), {"topical_retinoid", "salicylic_acid"}, set(),
         {"oral_tetracyclines:under_12", "oral_isotretinoin:under_12"}),
        ("very severe", Metadata(age=12, sex="female"), {"oral_isotretinoin", "oral_antibiotic"}, set(), set()),
        # sex and hormonal therapy
        ("severe", Metadata(age=30, sex="male"), {"oral_antibiotic"}, {"hormonal_therapy"},
         {"hormonal_therapy:male"}),
        ("very severe", Metadata(age=30, sex="male"), {"oral_isotretinoin"}, {"hormonal_therapy"},
         {"hormonal_therapy:male"}),
        ("mild", Metadata(age=30, sex="male"), {"topical_retinoid"}, set(), set()),  # not offered: not named
        ("severe", Metadata(age=30, sex="female"), {"hormonal_therapy"}, set(), set()),
        ("severe", Metadata(age=30), {"oral_antibiotic"}, {"hormonal_therapy"}, set()),  # sex unknown
        # allergies
        ("severe", Metadata(**ADULT_F, allergies=("sulfa",)), {"oral_antibiotic"}, set(),
         {"trimethoprim_sulfamethoxazole:sulfa_allergy", "dapsone:sulfa_allergy"}),
        ("severe", Metadata(**ADULT_F, allergies=("Penicillin",)), {"oral_antibiotic"}, set(),
         {"amoxicillin:penicillin_allergy", "cefadroxil:penicillin_allergy"}),
        ("severe", Metadata(**ADULT_F, allergies=("cephalosporins",)), {"oral_antibiotic"}, set(),
         {"amoxicillin:cephalosporin_allergy", "cefadroxil:cephalosporin_allergy"}),
        ("severe", Metadata(**ADULT_F, allergies=("nitroimidazole",)), {"oral_antibiotic"}, set(),
         {"metronidazole:nitroimidazole_allergy"}),
        # a current tetracycline rules out isotretinoin
        ("very severe", Metadata(**ADULT_F, current_medication=("doxycycline",)), {"oral_antibiotic"},
         {"oral_isotretinoin"}, {"oral_isotretinoin:taking_tetracycline"}),
        ("very severe", Metadata(**ADULT_F, current_medication=("Minocycline 50 mg",)), set(),
         {"oral_isotretinoin"}, {"oral_isotretinoin:taking_tetracycline"}),
        ("very severe", Metadata(**ADULT_F, current_medication=("SARECYCLINE",)), set(), {"oral_isotretinoin"},
         {"oral_isotretinoin:taking_tetracycline"}),
        ("very severe", Metadata(**ADULT_F, current_medication=("tetracycline",)), set(), {"oral_isotretinoin"},
         {"oral_isotretinoin:taking_tetracycline"}),
        ("very severe", Metadata(**ADULT_F, current_medication=("ibuprofen", "Lymecycline")), set(),
         {"oral_isotretinoin"}, {"oral_isotretinoin:taking_tetracycline"}),
        ("very severe", Metadata(**ADULT_F, current_medication=("ibuprofen",)), {"oral_isotretinoin"}, set(),
         set()),
    ],
    ids=[
        "pregnant", "possibly-pregnant", "breastfeeding-mild", "pregnant-moderate", "not-pregnant",
        "age-11", "age-11-mild", "age-12", "male-severe", "male-very-severe", "male-mild", "female-severe",
        "sex-unknown", "sulfa", "penicillin", "cephalosporin", "nitroimidazole", "doxycycline", "minocycline",
        "sarecycline", "tetracycline", "lymecycline", "no-tetracycline",
    ],
)
def test_contraindications(grade, metadata, present, absent, avoid):
    result = advise(grade, metadata, NO_FINDINGS)
    assert present <= set(result.advice_codes)
    assert not absent & set(result.advice_codes)
    assert set(result.avoid_codes) == avoid  # exactly what is relevant to this patient
    assert len(result.avoid) == len(result.avoid_codes)


def test_under_12_keeps_topical_only_and_refers():
    result = advise("very severe", Metadata(age=8, sex="female"), NO_FINDINGS)
    assert result.advice_codes and all(not OPTIONS[c].oral for c in result.advice_codes)
    assert "under_12" in result.refer_codes and result.refer


def test_avoid_line_names_drug_and_reason():
    result = advise("very severe", Metadata(**ADULT_F, pregnancy="yes"), NO_FINDINGS)
    line = result.avoid[result.avoid_codes.index("oral_isotretinoin:pregnancy")]
    assert line == "Oral isotretinoin — not during pregnancy, possible pregnancy or breastfeeding"
    assert not any("isotretinoin" in a for a in result.advice)


@pytest.mark.parametrize(
    "grade, metadata, findings, codes",
    [
        ("mild", Metadata(), NO_FINDINGS, []),
        ("mild", Metadata(), Findings(nodules=1), ["nodule"]),
        ("mild", Metadata(), Findings(scars=2), ["scars"]),
        ("mild", Metadata(scars=True), NO_FINDINGS, ["scars"]),
        ("moderate", Metadata(), NO_FINDINGS, []),
        ("severe", Metadata(), NO_FINDINGS, ["grade_severe"]),
        ("very severe", Metadata(), NO_FINDINGS, ["grade_severe"]),
        ("mild", Metadata(symptoms=("bleeding",)), NO_FINDINGS, ["bleeding"]),
        ("mild", Metadata(symptoms=("increasing_in_size",)), NO_FINDINGS, ["growing"]),
        ("mild", Metadata(symptoms=("itching",)), NO_FINDINGS, []),
        ("mild", Metadata(sudden_onset=True, symptoms=("fever",)), NO_FINDINGS, ["fulminans"]),
        ("mild", Metadata(symptoms=("joint_pain",)), NO_FINDINGS, ["fulminans"]),
        ("mild", Metadata(sudden_onset=True, symptoms=("Joint pain",)), NO_FINDINGS, ["fulminans"]),
        ("mild", Metadata(sudden_onset=False, symptoms=("fever",)), NO_FINDINGS, ["systemic_symptoms"]),
        ("mild", Metadata(sudden_onset=True), NO_FINDINGS, []),
        ("mild", Metadata(condition_after_treatment="worsened"), NO_FINDINGS, ["treatment_failure"]),
        ("mild", Metadata(condition_after_treatment="unchanged"), NO_FINDINGS, ["treatment_failure"]),
        ("mild", Metadata(condition_after_treatment="improved"), NO_FINDINGS, []),
        # the personalised grade (moderate raised to severe by failure) decides the severity flag
        ("moderate", Metadata(condition_after_treatment="worsened"), NO_FINDINGS,
         ["grade_severe", "treatment_failure"]),
        ("mild", Metadata(age=11), NO_FINDINGS, ["under_12"]),
        ("mild", Metadata(age=12), NO_FINDINGS, []),
        ("mild", Metadata(sex="female", pregnancy="yes"), NO_FINDINGS, []),
        ("moderate", Metadata(sex="female", pregnancy="yes"), NO_FINDINGS, ["pregnancy_above_mild"]),
        ("mild", Metadata(sex="female", pregnancy="unknown"), NO_FINDINGS, []),
        ("moderate", Metadata(sex="female", pregnancy="unknown"), NO_FINDINGS, ["pregnancy_above_mild"]),
        ("mild", Metadata(distress="yes"), NO_FINDINGS, ["distress"]),
        ("mild", Metadata(distress="prefer_not_to_say"), NO_FINDINGS, []),
    ],
)
def test_red_flags(grade, metadata, findings, codes):
    result = advise(grade, metadata, findings)
    assert result.refer_codes == codes
    assert result.refer is bool(codes)
    assert result.urgent is ("fulminans" in codes)
    assert result.refer_reasons == [TEXTS["en"][f"refer.{c}"] for c in codes]


def test_urgent_flag_comes_first():
    result = advise("severe", Metadata(sudden_onset=True, symptoms=("fever",)), Findings(nodules=2))
    assert result.refer_codes[0] == "fulminans" and result.urgent
    assert "TODAY" in result.refer_reasons[0]


@pytest.mark.parametrize(
    "grade, metadata, findings, personalised, reasons",
    [
        ("mild", Metadata(), NO_FINDINGS, "mild", []),
        ("mild", Metadata(scars=True), NO_FINDINGS, "moderate", ["scarring"]),
        ("mild", Metadata(), Findings(scars=1), "moderate", ["scarring"]),
        ("mild", Metadata(condition_after_treatment="worsened"), NO_FINDINGS, "moderate", ["treatment_failure"]),
        ("moderate", Metadata(condition_after_treatment="unchanged"), NO_FINDINGS, "severe",
         ["treatment_failure"]),
        ("mild", Metadata(duration="more_than_1_year"), NO_FINDINGS, "moderate", ["long_duration"]),
        ("severe", Metadata(duration=">1y"), NO_FINDINGS, "very severe", ["long_duration"]),
        ("mild", Metadata(duration="6 months"), NO_FINDINGS, "mild", []),
        # raises do not stack: one step, every reason named
        ("mild", Metadata(scars=True, condition_after_treatment="worsened", duration="2 years"), NO_FINDINGS,
         "moderate", ["scarring", "treatment_failure", "long_duration"]),
        ("very severe", Metadata(scars=True), NO_FINDINGS, "very severe", []),
        ("clear", Metadata(scars=True, condition_after_treatment="worsened"), NO_FINDINGS, "clear", []),
    ],
)
def test_personalised_grade(grade, metadata, findings, personalised, reasons):
    result = advise(grade, metadata, findings)
    assert result.grade_image == grade
    assert result.grade_personalised == personalised
    assert result.personalised_codes == reasons
    assert result.personalised_reasons == [TEXTS["en"][f"raise.{c}"] for c in reasons]


def test_personalised_grade_drives_ladder():
    result = advise("severe", Metadata(**ADULT_F, duration="more than 1 year"), NO_FINDINGS)
    assert result.grade_personalised == "very severe"
    assert "oral_isotretinoin" in result.advice_codes


@pytest.mark.parametrize(
    "duration, long",
    [
        ("more_than_1_year", True),
        (">1y", True),
        ("> 1 year", True),
        ("over_1_year", True),
        ("more than a year", True),
        ("2 years", True),
        ("18 months", True),
        ("1 year", False),
        ("12 months", False),
        ("6_months", False),
        ("less_than_1_year", False),
        ("<1y", False),
        ("a while", False),
        ("", False),
        (None, False),
    ],
)
def test_longer_than_a_year(duration, long):
    assert longer_than_a_year(duration) is long


def _model(tmp_path, coefficients, intercept=0.0):
    path = tmp_path / "adjustment.json"
    path.write_text(json.dumps({"intercept": intercept, "coefficients": coefficients}))
    return load_adjustment_model(path)


@pytest.mark.parametrize(
    "grade, score, coefficients, metadata, personalised, reasons",
    [
        ("mild", 20, {"scars": 30.0}, Metadata(scars=True), "moderate", ["adjustment_model"]),  # 50
        ("mild", 20, {"scars": 30.0}, Metadata(), "mild", []),  # feature absent: 20
        ("mild", 30, {"scars": 100.0, "distress": 5.0}, Metadata(scars=True, distress="yes"), "severe",
         ["adjustment_model"]),  # 135: a fitted model may move more than one step
        ("moderate", 60, {"female": -50.0}, Metadata(sex="female"), "moderate", []),  # never below the image
        ("mild", 20, {}, Metadata(duration="more_than_1_year"), "mild", []),  # the model replaces the rules
        ("clear", 0, {"scars": 100.0}, Metadata(scars=True), "clear", []),
    ],
)
def test_adjustment_model(tmp_path, grade, score, coefficients, metadata, personalised, reasons):
    model = _model(tmp_path, coefficients)
    result = advise(grade, metadata, NO_FINDINGS, score=score, adjustment=model)
    assert result.grade_personalised == personalised
    assert result.personalised_codes == reasons


def test_adjustment_model_uses_symptom_and_intercept(tmp_path):
    model = _model(tmp_path, {"symptom_hardening": 10.0}, intercept=5.0)
    assert model.delta(Metadata(symptoms=("hardening",)), NO_FINDINGS) == 15.0
    assert model.delta(Metadata(), NO_FINDINGS) == 5.0


def test_adjustment_model_rejects_unknown_feature(tmp_path):
    with pytest.raises(ValueError, match="shoe_size"):
        _model(tmp_path, {"shoe_size": 1.0})


def test_adjustment_model_needs_score(tmp_path):
    with pytest.raises(ValueError):
        advise("mild", Metadata(), NO_FINDINGS, adjustment=_model(tmp_path, {}))


def test_unknown_grade_rejected():
    with pytest.raises(ValueError):
        advise("catastrophic", Metadata(), NO_FINDINGS)


@pytest.mark.parametrize("grade", ["clear", "mild", "moderate", "severe", "very severe"])
def test_every_result_carries_the_notice(grade):
    assert "not a medical diagnosis" in advise(grade, Metadata(), NO_FINDINGS).notice


def test_zh_locale_renders_chinese():
    metadata = Metadata(**ADULT_F, current_medication=("doxycycline",), symptoms=("fever",))
    result = advise("very severe", metadata, Findings(nodules=1), locale="zh")
    assert result.notice == TEXTS["zh"]["notice"]
    assert "请咨询医生" in result.advice[0] and "（首选）" in result.advice[0]
    assert result.avoid == ["口服异维A酸——正在服用四环素类抗生素时禁用（有颅内压升高风险）"]
    assert result.refer_reasons[0] == TEXTS["zh"]["refer.fulminans"]
    # codes stay the same whatever the language
    assert result.advice_codes == advise("very severe", metadata, Findings(nodules=1)).advice_codes


@pytest.mark.parametrize("locale, language", [("zh-CN", "zh"), ("zh_Hans", "zh"), ("fr", "en"), ("EN", "en")])
def test_locale_fallback(locale, language):
    assert advise("mild", Metadata(), NO_FINDINGS, locale=locale).notice == TEXTS[language]["notice"]


def _codes_in_use():
    codes = {"notice", "tpl.ask_doctor", "tpl.ask_doctor_addon", "tpl.suggest", "tpl.preferred", "tpl.avoid"}
    codes |= {f"option.{code}" for code in OPTIONS}
    codes |= {f"drug.{d}" for c in CONTRAINDICATIONS for d in c.drugs}
    codes |= {f"why.{c.reason}" for c in CONTRAINDICATIONS}
    codes |= {f"refer.{c}" for c in REFER_CODES}
    codes |= {f"raise.{c}" for c, _ in RAISE_RULES} | {"raise.adjustment_model"}
    return codes


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_every_code_has_text(locale):
    missing = _codes_in_use() - set(TEXTS[locale])
    assert not missing
    assert all(TEXTS[locale][c].strip() for c in _codes_in_use())


def test_catalogues_have_the_same_codes():
    assert set(TEXTS["en"]) == set(TEXTS["zh"])


def test_refer_codes_cover_every_flag():
    everything = Metadata(
        age=11, sex="female", pregnancy="yes", symptoms=("bleeding", "increasing_in_size", "fever"),
        condition_after_treatment="worsened", scars=True, sudden_onset=True, distress="yes",
    )
    flags = set(red_flags("severe", everything, Findings(nodules=1)))
    assert flags == set(REFER_CODES) - {"systemic_symptoms"}
    assert "systemic_symptoms" in red_flags("mild", Metadata(symptoms=("fever",), sudden_onset=False), NO_FINDINGS)
