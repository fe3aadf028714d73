"""Every relative link in the repository's Markdown resolves: the file exists, and an `#anchor` names a heading.

Anchors are made from headings the way GitHub makes them. Links to other sites are not followed
(nothing is fetched). Links inside code (fenced blocks, `inline code`) are not links.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {"node_modules", "__snapshots__"}

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The repository's Markdown files, outside hidden directories (.venv, .git) and snapshots."""
    found = []
    for path in sorted(root.rglob("*.md")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
            continue
        found.append(path)
    return found


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked out."""
    lines = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation gone, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file's headings make (a repeated heading gets -1, -2, ...)."""
    seen: Counter[str] = Counter()
    made = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = HEADING.match(line)
        if fenced or match is None:
            continue
        base = slug(match.group(2))
        made.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return made


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One line per link in `path` that does not resolve inside `root`."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(line):
            target = match.group(1)
            if EXTERNAL.match(target):
                continue
            where = f"{path.relative_to(root)}:{number}: {target}"
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / unquote(file_part)).resolve() if file_part else path
            if not linked.is_relative_to(root.resolve()):
                problems.append(f"{where}: points outside the repository")
            elif not linked.exists():
                problems.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{where}: no heading makes #{anchor}")
    return problems


def test_every_relative_link_resolves() -> None:
    files = markdown_files()
    assert ROOT / "README.md" in files
    problems = [problem for path in files for problem in broken_links(path)]
    assert problems == []


def test_readme_links_the_contracts_plainly() -> None:
    """DESIGN.md sends readers to the README for the contracts; the README must lead on to them."""
    assert "(docs/contracts.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 250, f"README.md has {lines} lines; the rest belongs in docs/"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Nothing lost: effects exactly once, whatever fails", "nothing-lost-effects-exactly-once-whatever-fails"),
        ("`checkout bench`", "checkout-bench"),
        ("The `checkout` command", "the-checkout-command"),
        ("Speed: what a saga costs, and the levers", "speed-what-a-saga-costs-and-the-levers"),
        ("Game days (scenarios, probes)", "game-days-scenarios-probes"),
    ],
)
def test_slug_as_github_makes_it(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_broken_links_are_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title\n\n## Same\n\n## Same\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "See [a](docs/a.md#a-title), [again](docs/a.md#same-1) and [top](#top).\n"
        "# Top\n"
        "[gone](docs/missing.md), [no anchor](docs/a.md#nowhere), [here](#nothing), [out](../x.md)\n"
        "`[code](not/a/link.md)` and [web](https://example.invalid/x) are not checked.\n"
        "```\n[fenced](not/a/link.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(tmp_path / "README.md", root=tmp_path)
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "docs/missing.md: no such file",
        "docs/a.md#nowhere: no heading makes #nowhere",
        "#nothing: no heading makes #nothing",
        "../x.md: points outside the repository",
    ]
