"""Post-processes a lock file that pip-compile wrote (scripts/lock.sh runs it; stdlib only).

pip-compile pins a package's whole dependency tree; it cannot install one package without its declared
dependencies. mediapipe 0.10.21 declares jax, jaxlib, opencv-contrib-python, sentencepiece and sounddevice,
which its legacy FaceMesh (all the service uses) never imports. So:

  --leave-out NAME   drops NAME, then every package that was pinned only because something dropped needs it
                     (jax's scipy, ml-dtypes and opt-einsum), using pip-compile's "# via" annotations; a package
                     something else needs stays (cffi: cryptography). The "# via" lines lose the dropped names.
  --layer-on LOCK    drops the packages LOCK already pins (at the same version: checked), so an extra's lock
                     holds only what it adds on top of the runtime lock. This does not cascade.

The header says what was left out and why. Installs use `pip install --no-deps --require-hashes`, so what is
in the files is exactly what is installed.

    python scripts/lock_filter.py requirements/runtime.txt --leave-out jax --leave-out jaxlib ...
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Entry:
    name: str
    version: str
    lines: list[str]  # the pin, its hashes and its "# via" comment, as written
    via: list[str] = field(default_factory=list)  # who needs it: package names, "acnebot (pyproject.toml)", "-c x"


def parse(text: str) -> tuple[list[str], list[Entry], list[str]]:
    """(header lines, entries in file order, trailing lines such as pip-compile's 'unsafe' section)."""
    header: list[str] = []
    entries: list[Entry] = []
    between: list[str] = []  # lines between two entries (pip-compile's "unsafe" section title): kept with the next
    for line in text.splitlines():
        pin = PIN.match(line)
        if pin:
            entries.append(Entry(canonical(pin.group(1)), pin.group(2), between + [line]))
            between = []
        elif not entries:
            header.append(line)
        elif line.startswith((" ", "\t")) and not between:
            entries[-1].lines.append(line)
        else:
            between.append(line)
    trailer = between
    for entry in entries:
        entry.via = _via(entry.lines)
    return header, entries, trailer


def _via(lines: list[str]) -> list[str]:
    names, inside = [], False
    for line in lines:
        comment = line.strip()
        if comment.startswith("# via "):
            names.append(comment[len("# via "):].strip())
        elif comment == "# via":
            inside = True
        elif inside and comment.startswith("#   "):
            names.append(comment[len("#   "):].strip())
        else:
            inside = False
    return names


def _is_package(via: str) -> bool:
    """A "# via" item that is a pinned package (not the project, a -r/-c file or a command-line requirement)."""
    return not via.startswith("-") and " " not in via


def leave_out(entries: list[Entry], names: set[str]) -> dict[str, str]:
    """Drops `names` and what only they need; returns {dropped name: why}."""
    pinned = {e.name for e in entries}
    unknown = names - pinned
    if unknown:
        raise SystemExit(f"lock_filter: {', '.join(sorted(unknown))} not in the lock: nothing to leave out")
    dropped = {name: "" for name in names}
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.name in dropped:
                continue
            needers = [v for v in entry.via if not v.startswith("-c ")]
            if needers and all(_is_package(v) and canonical(v) in dropped for v in needers):
                dropped[entry.name] = "needed only by " + ", ".join(sorted(canonical(v) for v in needers))
                changed = True
    for entry in entries:
        if entry.name not in dropped:
            keep = [v for v in entry.via if not (_is_package(v) and canonical(v) in dropped)]
            entry.lines = _rewrite_via(entry, keep)
    return dropped


def _rewrite_via(entry: Entry, keep: list[str]) -> list[str]:
    if keep == entry.via:
        return entry.lines
    first = next(i for i, line in enumerate(entry.lines) if PIN.match(line))
    body = entry.lines[:first + 1] + [line for line in entry.lines[first + 1:] if not line.strip().startswith("#")]
    if len(keep) == 1:
        return body + [f"    # via {keep[0]}"]
    return body + ["    # via"] + [f"    #   {v}" for v in keep]


def layer_on(entries: list[Entry], base: Path) -> list[str]:
    """Drops what the base lock pins; returns their names."""
    _, base_entries, _ = parse(base.read_text(encoding="utf-8"))
    pinned = {e.name: e.version for e in base_entries}
    shared = []
    for entry in entries:
        if entry.name in pinned:
            if pinned[entry.name] != entry.version:
                raise SystemExit(f"lock_filter: {entry.name}=={entry.version} but {base} pins "
                                 f"{pinned[entry.name]}: compile with -c {base}")
            shared.append(entry.name)
    return shared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path, help="the file pip-compile wrote; rewritten in place")
    parser.add_argument("--leave-out", action="append", default=[], metavar="NAME")
    parser.add_argument("--layer-on", action="append", default=[], type=Path, metavar="LOCK")
    parser.add_argument("--why", default="", help="for the header: why the left-out packages are out")
    args = parser.parse_args(argv)

    header, entries, trailer = parse(args.lock.read_text(encoding="utf-8"))
    dropped = leave_out(entries, {canonical(n) for n in args.leave_out})
    shared: set[str] = set()
    for base in args.layer_on:
        shared |= set(layer_on(entries, base))

    notes = []
    if args.layer_on:
        notes += [f"# Layered on {', '.join(str(p) for p in args.layer_on)}: install them together; "
                  "what they pin is not repeated here."]
    if dropped:
        notes += [f"# Left out{': ' + args.why if args.why else ''}.",
                  "# Installs use `pip install --no-deps`, so nothing brings them back:"]
        notes += [f"#   {name}" + (f" ({why})" if why else "") for name, why in sorted(dropped.items())]
    if notes:
        notes.append("#")
    body, carried = [], []  # a dropped entry's leading lines (a section title) go with the next kept one
    for entry in entries:
        first = next(i for i, line in enumerate(entry.lines) if PIN.match(line))
        if entry.name in dropped or entry.name in shared:
            carried += entry.lines[:first]
        else:
            body += carried + entry.lines
            carried = []
    kept = [e for e in entries if e.name not in dropped and e.name not in shared]
    out = header + notes + body + trailer  # a title still carried here has no entries left: dropped with them
    args.lock.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"lock_filter: {args.lock}: {len(kept)} pinned, {len(dropped)} left out, {len(shared)} in the base lock",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
