"""`acnebot` command line: run the service, assess photos, print advice for a grade, run the demo.

Exit status: 0 an assessment was made, 2 a photo is unusable (reason under "quality"), 1 usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.metadata import MetadataError, parse_metadata
from pipeline.report import advice_result, advice_text, assessment_result, assessment_text

EXIT_OK, EXIT_USAGE, EXIT_UNUSABLE = 0, 1, 2
SAMPLE_PHOTO = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "astronaut.jpg"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2, which our contract keeps for unusable photos
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="acnebot", description="Acne self-assessment service and tools.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    a = sub.add_parser("assess", help="assess face photos of one visit")
    a.add_argument("photos", nargs="+", metavar="PHOTO")
    a.add_argument("--region", action="append",
                   choices=("forehead", "nose", "left_cheek", "right_cheek", "chin", "face"),
                   help="the photo shows only this region (once for all photos, or once per photo in order; "
                        "'face' marks a full-face photo among close-ups)")
    _metadata_args(a)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--annotated", metavar="OUT.jpg", help="write the annotated photo(s) here")
    a.add_argument("--locale", default="en", help="language of advice texts (en, zh)")

    d = sub.add_parser("advise", help="advice and doctor notice for a grade, without a photo")
    d.add_argument("--grade", required=True, choices=("clear", "mild", "moderate", "severe", "very-severe"))
    _metadata_args(d)
    d.add_argument("--json", action="store_true")
    d.add_argument("--locale", default="en")

    sub.add_parser("demo", help="assess the bundled sample photo and write demo-annotated.jpg")

    s = sub.add_parser("serve", help="run the service: Telegram with TELEGRAM_BOT_TOKEN, else the local web chat "
                                     "(settings from environment variables, see README)")
    s.add_argument("--host", help="address to listen on (default HOST, else 127.0.0.1 without a messenger token)")
    s.add_argument("--port", type=int, help="port to listen on (default PORT, else 8080)")

    k = sub.add_parser("worker", help="run assessment worker processes alone: they take the assessments waiting in "
                                      "the database and send the results (ASSESSMENT_WORKERS, DATABASE_URL)")
    k.add_argument("--host", help="address of /healthz (default HOST)")
    k.add_argument("--port", type=int, help="port of /healthz (default PORT, else 8080)")

    r = sub.add_parser("rotate-photo-key", help="re-encrypt every stored photo with the new key (ACNEBOT_PHOTO_KEY "
                                                "or --new-key); the old ones in ACNEBOT_PHOTO_OLD_KEYS")
    r.add_argument("--new-key", metavar="FILE", help="file holding the new key (default ACNEBOT_PHOTO_KEY)")
    r.add_argument("--batch", type=int, default=20, help="photos per transaction (default 20)")

    p = sub.add_parser("purge-photos", help="delete stored photos older than DAYS (assessment results stay)")
    p.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    w = sub.add_parser("wechat-menu", help="create the WeChat official account's custom menu (New check-in, My "
                                           "history, Reminders); settings WECHAT_* as for serve")
    w.add_argument("--locale", default="zh", help="language of the menu's labels (zh, en)")

    from bot.console.staff_cli import add_arguments

    add_arguments(sub)
    return parser


def _metadata_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--age", type=float)
    p.add_argument("--sex", choices=("f", "m", "female", "male"))
    p.add_argument("--pregnant", action="store_true", help="pregnant, possibly pregnant or breastfeeding")
    p.add_argument("--metadata", metavar="FILE.json", help="questionnaire answers (see README)")


def _metadata(args):
    raw = {}
    if args.metadata:
        try:
            raw = json.loads(Path(args.metadata).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read metadata file {args.metadata}: {exc}") from exc
    if args.age is not None:
        raw["age"] = args.age
    if args.sex:
        raw["sex"] = {"f": "female", "m": "male"}.get(args.sex, args.sex)
    if args.pregnant:
        raw["pregnancy"] = "yes"
    try:
        return parse_metadata(raw)
    except MetadataError as exc:
        raise UsageError(str(exc)) from exc


def _assess(args) -> int:
    from pipeline.assess import assess, prepare
    from pipeline.intake import IntakeError
    from pipeline.quality import QualityReport
    from pipeline.render import annotate
    from pipeline.result import AssessmentResult, Quality
    from pipeline.types import Reason

    regions = args.region or []
    if len(regions) not in (0, 1, len(args.photos)):
        raise UsageError("give --region once for all photos or once per photo")
    metadata = _metadata(args)
    prepared, refused = [], []
    for index, path in enumerate(args.photos):
        region = regions[0] if len(regions) == 1 else (regions[index] if regions else None)
        region = None if region == "face" else region
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            prepared.append(prepare(data, region))
        except IntakeError as exc:
            prefix = f"Photo {index + 1}: " if len(args.photos) > 1 else ""
            refused.append(Reason(exc.code, prefix + exc.message))
    if refused:
        report = QualityReport(False, refused)
        _emit(args, AssessmentResult(Quality(False, tuple(refused))).to_json(),
              "Photo not usable:\n" + "\n".join(f"- {r.message}" for r in report.reasons))
        return EXIT_UNUSABLE
    result = assess(prepared, metadata, locale=args.locale)
    if args.annotated and result.ok:
        out = Path(args.annotated)
        for i, p in enumerate(result.photos):
            target = out if i == 0 else out.with_name(f"{out.stem}.{i + 1}{out.suffix}")
            target.write_bytes(annotate(p.photo.pixels, p.view, [l for l in result.lesions if l.photo == i]))
    _emit(args, assessment_result(result).to_json(), assessment_text(result))
    return EXIT_OK if result.ok else EXIT_UNUSABLE


def _advise(args) -> int:
    from pipeline.advice import Findings, advise

    metadata = _metadata(args)
    advice = advise(args.grade.replace("-", " "), metadata, Findings(), args.locale)
    _emit(args, advice_result(advice).to_json(), advice_text(advice))
    return EXIT_OK


def _demo(args) -> int:
    out = Path("demo-annotated.jpg")
    ns = argparse.Namespace(photos=[str(SAMPLE_PHOTO)], region=None, age=None, sex=None, pregnant=False,
                            metadata=None, json=False, annotated=str(out), locale="en")
    code = _assess(ns)
    print(f"\nAnnotated photo written to {out.resolve()}")
    return code


def _serve(args) -> int:
    from bot.service.app import run

    return run(host=args.host, port=args.port)


def _worker(args) -> int:
    from bot.service.app import run

    return run(host=args.host, port=args.port, role="worker")


def _rotate(args) -> int:
    from bot.service.maintenance import rotate_photo_key

    return rotate_photo_key(args.new_key, args.batch)


def _purge(args) -> int:
    from bot.service.maintenance import purge_photos

    return purge_photos(args.older_than)


def _wechat_menu(args) -> int:
    import asyncio

    from bot.settings import Settings
    from bot.wechat.transport import install_menu

    settings = Settings()
    if not settings.wechat_enabled:
        raise UsageError("set WECHAT_TOKEN, WECHAT_APP_ID and WECHAT_APP_SECRET first")
    from bot.wechat.api import WeChatError

    try:
        menu = asyncio.run(install_menu(settings, args.locale))
    except (WeChatError, OSError) as error:  # refused (wrong secret, IP not whitelisted) or unreachable
        print(f"acnebot: WeChat refused the menu: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(menu, ensure_ascii=False, indent=2))
    return EXIT_OK


def _staff(args) -> int:
    from bot.console.staff_cli import main as staff_main

    return staff_main(args)


def _emit(args, payload: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"assess": _assess, "advise": _advise, "demo": _demo, "serve": _serve, "worker": _worker,
                "staff": _staff,
                "rotate-photo-key": _rotate, "purge-photos": _purge, "wechat-menu": _wechat_menu}
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"acnebot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the model file and similar set-up problems: say what, no traceback
        from pipeline.classifier import ModelError

        if isinstance(exc, ModelError):
            print(f"acnebot: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
