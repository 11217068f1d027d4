"""Makes pipeline/fonts/cjk-subset.otf: the glyphs that the pictures' Chinese words need, cut from Noto Sans CJK SC.

    .venv/bin/python scripts/subset_cjk_font.py NotoSansCJKsc-Regular.otf

Run it again when a Chinese word drawn into a picture changes (conversations.i18n.picture_labels; a test fails
until then). The source font (SIL Open Font License 1.1, pipeline/fonts/OFL.txt) is 16 MB; the words need a few
dozen glyphs. The subset is renamed, as the licence asks of a modified version.
"""
from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conversations.i18n import LOCALES, picture_labels  # noqa: E402
from pipeline.render import CJK_FONT  # noqa: E402

FAMILY = "acnebot picture words"


def characters() -> str:
    words = "".join(text for locale in LOCALES for text in picture_labels(locale).values())
    return "".join(sorted(set(words + string.printable.strip() + " ")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="NotoSansCJKsc-Regular.otf (Noto Sans CJK SC)")
    ap.add_argument("--out", type=Path, default=CJK_FONT)
    args = ap.parse_args(argv)
    font = TTFont(args.source)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "-")
        elif record.nameID == 3:
            record.string = f"{FAMILY}; subset of {record.toUnicode()}"
    if "CFF " in font:  # the outlines' own copy of the names
        cff = font["CFF "].cff
        top = cff[cff.fontNames[0]]
        cff.fontNames[0] = FAMILY.replace(" ", "-")
        for key in ("FamilyName", "FullName"):
            if hasattr(top, key):
                setattr(top, key, FAMILY)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    font.save(args.out)
    print(f"{args.out}: {len(font.getBestCmap())} characters, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
