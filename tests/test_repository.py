"""The repository stands alone: every behaviour id the code and the tests name is defined in
docs/behaviours.md, and no file points to documents outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "docs" / "behaviours.md"

# A behaviour id: KV1-KV9, D1-D8, K1-K10, V1-V8, O1-O4. Underscores count as a boundary (test names such as
# ``test_KV6_purge_refused``), letters and digits do not: ``PremiumV2_LRS`` and ``D4s`` name no behaviour.
ID = re.compile(r"(?<![A-Za-z0-9])((?:KV|D|K|V|O)\d{1,2})(?![A-Za-z0-9])")

# Text that looks like an id and is not one, blanked before the scan. Each entry says what it is.
NOT_IDS = [
    re.compile(r"\bStandard_\w+"),                      # VM sizes: Standard_D4_v3, Standard_D2_v3
    re.compile(r'"hyperVGeneration":\s*"V\d"'),         # Hyper-V generation V1/V2 in the Azure JSON
    re.compile(r'HYPER_V = \("V1", "V2"\)'),            # the --hyper-v-generation choices
    re.compile(r'help_default="V1"'),                   # ... and their default in the help
    re.compile(r'"-n", "D1"'),                          # a disk named D1 (names are case-insensitive)
    re.compile(r'create_vault, "KV1"'),                 # an upper-case vault name, refused by the naming rules
]

SCANNED_FOR_IDS = ("tests", "engine", "console")
ID_SUFFIXES = {".py", ".toml", ".md", ".tcss", ".html"}

# Files that may carry a reference to the outside, and the references they must not carry. The needles are
# built from parts so that this file does not match itself.
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".sh"}
OUTSIDE = [re.escape(".." + "/shared"), re.escape("/work" + "/shared"), re.escape("BEHAVIOURS" + ".md"),
           re.escape("TOOLCHAIN" + ".md"), r"\bseeds" + "/"]
OUTSIDE_RE = re.compile("|".join(OUTSIDE))
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", "build", "dist", ".pytest_cache", ".ruff_cache"}


def ids_in(text: str) -> set[str]:
    for pattern in NOT_IDS:
        text = pattern.sub(" ", text)
    return set(ID.findall(text))


def defined_ids() -> dict[str, str]:
    """id -> its definition line, from the catalogue's ``- **ID** definition`` lines."""
    found: dict[str, str] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"- \*\*((?:KV|D|K|V|O)\d{1,2})\*\* (\S.*)", line)
        if m:
            assert m.group(1) not in found, f"{m.group(1)} is defined twice in docs/behaviours.md"
            found[m.group(1)] = m.group(2)
    return found


def repository_files(suffixes: set[str], tops: tuple[str, ...] | None = None):
    roots = [ROOT / t for t in tops] if tops else [ROOT]
    for top in roots:
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(ROOT)
            if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
                continue
            if path.is_file() and path.suffix in suffixes:
                yield path


def test_the_id_scanner_finds_ids_and_skips_look_alikes():
    assert ids_in("def test_KV6_purge_refused_while_protected(e):") == {"KV6"}
    assert ids_in('raise BadRequest("ultra disks (V1)")  # K5, D8') == {"V1", "K5", "D8"}
    assert ids_in("sku PremiumV2_LRS, size Standard_D2s_v3, Standard_D4_v3, D4s, KV10x, ABD3") == set()
    assert ids_in('"hyperVGeneration": "V1", HYPER_V = ("V1", "V2")') == set()


def test_the_catalogue_defines_every_family():
    ids = defined_ids()
    expected = ({f"KV{i}" for i in range(1, 10)} | {f"D{i}" for i in range(1, 9)} | {f"K{i}" for i in range(1, 11)}
                | {f"V{i}" for i in range(1, 9)} | {f"O{i}" for i in range(1, 5)})
    assert expected <= set(ids), sorted(expected - set(ids))
    assert all(len(text) > 40 for text in ids.values()), "each id needs a definition an engineer can test against"


def test_every_behaviour_id_in_code_and_tests_is_defined():
    defined = set(defined_ids())
    used: dict[str, set[str]] = {}
    for path in repository_files(ID_SUFFIXES, SCANNED_FOR_IDS):
        for found in ids_in(path.read_text(encoding="utf-8", errors="replace")):
            used.setdefault(found, set()).add(str(path.relative_to(ROOT)))
    # the scan is not vacuous: the engine's tests name these
    assert {"KV6", "D3", "K2", "V4"} <= set(used)
    missing = {i: sorted(files) for i, files in used.items() if i not in defined}
    assert not missing, f"ids used but not defined in docs/behaviours.md: {missing}"


def test_no_file_refers_outside_the_repository():
    files = list(repository_files(TEXT_SUFFIXES))
    files.append(ROOT / ".ci" / "run")
    assert ROOT / "README.md" in files and ROOT / "pyproject.toml" in files
    offenders = []
    for path in files:
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE_RE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "references outside the repository:\n" + "\n".join(offenders)


def test_the_outside_patterns_catch_what_they_are_for():
    for text in ["see .." + "/shared/x", "in BEHAVIOURS" + ".md", "TOOLCHAIN" + ".md",
                 "/work" + "/shared/x", "the seeds" + "/003.txt"]:
        assert OUTSIDE_RE.search(text), text
    assert not OUTSIDE_RE.search("docs/behaviours.md, the seeds' rules, profile seeds")


def test_the_readme_points_to_the_catalogue():
    assert "docs/behaviours.md" in (ROOT / "README.md").read_text(encoding="utf-8")


# ---- one owner per fact ------------------------------------------------------------------------------------

KEY_URL_BY_HAND = (re.compile(r"vault\\\\?\.azure\\\\?\.net"),  # a pattern of the key URL (escaped dots)
                   re.compile(r"https://\{[^{}]+\}\.vault\.azure\.net/(?:keys|deletedkeys)/"))  # an f-string key id


def test_key_urls_are_built_and_matched_only_in_engine_ids():
    """The key id's shape has one owner, engine/ids.py (key_id, keys_prefix, deleted_key_id, parse_key_url,
    KEY_URL_IN_TEXT, shorten_key_urls): no other module writes a pattern of it or builds one by hand."""
    found = []
    for top in ("engine", "console", "store"):
        for path in (ROOT / top).rglob("*.py"):
            if path == ROOT / "engine" / "ids.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if any(rx.search(line) for rx in KEY_URL_BY_HAND):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
