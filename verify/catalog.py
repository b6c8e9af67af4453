"""A static index of the registry's metadata, so that ``list``, ``--help`` and usage errors
answer without importing the claim modules (and with them sympy, torch, numba, matplotlib).

``verify/_index.json`` holds, for every built-in claim, the fields ``list`` shows, plus a
hash of the files that define them (``verify/claims/**/*.py`` and ``verify/registry.py``).
:func:`claims_meta` uses the index only while that hash matches the files on disk and no
plug-in modules are named in ``PGV_CLAIM_MODULES``; otherwise it imports the registry (slow
but always right). ``python -m verify index`` rewrites the file and
``tests/test_cli.py::test_index_is_fresh`` fails when it is stale.

This module imports only the standard library.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
INDEX_PATH = PACKAGE / "_index.json"
PLUGIN_VAR = "PGV_CLAIM_MODULES"

#: Report pages, in order (kept equal to ``verify.registry.FAMILY_ORDER``; a test checks it).
FAMILIES = (
    "policy-gradient",
    "trust-region",
    "importance-sampling",
    "ppo-grpo",
    "kl-estimators",
    "value-targets",
    "mismatch",
    "engine",
)

META_FIELDS = ("id", "title", "family", "kind", "expected", "uses", "corrects")


def plugin_modules() -> list[str]:
    """The extra claim modules named in ``PGV_CLAIM_MODULES`` (comma-separated), in order."""
    return [m.strip() for m in os.environ.get(PLUGIN_VAR, "").split(",") if m.strip()]


def source_hash() -> str:
    """sha256 over the files that define the registry's metadata."""
    h = hashlib.sha256()
    claims = PACKAGE / "claims"
    files = [*sorted(claims.rglob("*.py")), PACKAGE / "registry.py"]
    for p in files:
        name = p.relative_to(claims).as_posix() if p.is_relative_to(claims) else p.name
        h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Catalog:
    """Claim metadata in registry order; ``from_index`` says whether the static index served it."""

    claims: list[dict[str, Any]]
    from_index: bool

    @property
    def ids(self) -> list[str]:
        return [c["id"] for c in self.claims]

    @property
    def families(self) -> list[str]:
        seen = [c["family"] for c in self.claims]
        known = [f for f in FAMILIES if f in seen]
        return known + sorted(set(seen) - set(known))

    def resolve(self, wanted: list[str]) -> tuple[list[str], list[str]]:
        """Registry-ordered canonical ids for ``wanted`` (case-insensitive) and error lines for
        the unknown ones, each with "did you mean" suggestions."""
        by_fold = {i.casefold(): i for i in self.ids}
        found: set[str] = set()
        errors: list[str] = []
        for w in wanted:
            hit = by_fold.get(w.casefold())
            if hit is not None:
                found.add(hit)
                continue
            close = difflib.get_close_matches(w.upper(), [i.upper() for i in self.ids], n=3, cutoff=0.6)
            hint = "; did you mean " + " or ".join(by_fold[c.casefold()] for c in close) + "?" if close else ""
            errors.append(f"unknown claim id {w!r}{hint}")
        return [i for i in self.ids if i in found], errors


def build_index() -> dict[str, Any]:
    """The index of the built-in claims (imports the registry with plug-ins switched off)."""
    from verify import registry

    saved = os.environ.pop(PLUGIN_VAR, None)
    try:
        if saved and registry._LOADED:
            raise RuntimeError(f"build_index: the registry was loaded with {PLUGIN_VAR}={saved!r}; "
                               "build the index in a process without plug-ins")
        reg = registry.load_all()
    finally:
        if saved is not None:
            os.environ[PLUGIN_VAR] = saved
    rows = [_meta(reg[i]) for i in registry.ordered_ids(reg)]
    return {"source_hash": source_hash(), "claims": rows}


def _meta(c: Any) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "family": c.family, "kind": c.kind, "expected": c.expected,
            "uses": list(c.uses), "corrects": c.corrects}


def index_text() -> str:
    return json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n"


def write_index(path: Path = INDEX_PATH) -> Path:
    path.write_text(index_text(), encoding="utf-8")
    return path


def _read_index() -> dict[str, Any] | None:
    try:
        doc = json.loads(INDEX_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("source_hash") != source_hash():
        return None
    claims = doc.get("claims")
    if not isinstance(claims, list) or not all(isinstance(c, dict) and set(META_FIELDS) <= set(c) for c in claims):
        return None
    return doc


def listed_families() -> list[str]:
    """Families for help texts, without importing anything: from the index when it is fresh
    (families that have claims), else every report page name."""
    doc = _read_index()
    if doc is None:
        return list(FAMILIES)
    return Catalog(doc["claims"], from_index=True).families


def claims_meta() -> Catalog:
    """Metadata of every claim: from the static index when it is fresh and there are no
    plug-ins, otherwise from the imported registry."""
    if not plugin_modules():
        doc = _read_index()
        if doc is not None:
            return Catalog(doc["claims"], from_index=True)
    from verify.registry import load_all, ordered_ids

    reg = load_all()
    return Catalog([_meta(reg[i]) for i in ordered_ids(reg)], from_index=False)


def anchor(item_id: str) -> str:
    """The markdown anchor of a claim or derivation id on a report page (lower case, other characters '-')."""
    return re.sub(r"[^a-z0-9-]", "-", item_id.lower())


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 claim"``, ``"2 claims"`` (``many`` for an irregular plural)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
