"""The :class:`Mutant` record, the catalogue it is registered in, and :func:`plant`."""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mutant:
    """One bug class: a variant of a reference function (or of a bound's constant) that implements it.

    Attributes:
      id: ``"<function>:<bug>"`` (numpy targets) or ``"torch.<function>:<bug>"`` (torch mirror);
        private path functions use their own name (``"gae_kernel:..."``, ``"gae_seq:..."``, ``"_td:..."``);
        shrunk bound constants use ``"bound.<NAME>:shrunk-<factor>"``.
      target: dotted path of what it replaces, e.g. ``"reference_impls.returns.gae"``; a bound constant
        is ``"<module>.<DICT>[<KEY>]"``.
      description: the bug as a user would write it (with the peer issue that shows it, when real).
      fn: for a function target, a plain function with the target's signature; for a bound constant,
        a function of no arguments returning the shrunk value.
      family: the claim family whose claims are expected to kill it.
    """

    id: str
    target: str
    description: str
    fn: Callable[..., Any]
    family: str


CATALOGUE: dict[str, Mutant] = {}

_ID = re.compile(r"^(torch\.|bound\.)?[A-Za-z_][A-Za-z0-9_]*:[a-z0-9][a-z0-9.-]*$")
_ITEM = re.compile(r"^(?P<obj>.+)\[(?P<key>[^\]]+)\]$")


def mutant(id: str, target: str, family: str, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the mutant ``id`` of ``target``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not _ID.match(id):
            raise ValueError(f"id: expected '<function>:<bug>', got {id!r}")
        if id in CATALOGUE:
            raise ValueError(f"id: mutant {id!r} is already registered")
        CATALOGUE[id] = Mutant(id, target, description, fn, family)
        return fn

    return deco


def mutants_for(target: str) -> list[Mutant]:
    """The catalogued mutants of ``target`` (a dotted path), in registration order."""
    return [m for m in CATALOGUE.values() if m.target == target]


def resolve(target: str) -> tuple[Any, str]:
    """``(module, attribute)`` of a dotted function path."""
    mod_name, _, attr = target.rpartition(".")
    return importlib.import_module(mod_name), attr


@contextlib.contextmanager
def plant(m: Mutant | str) -> Iterator[Mutant]:
    """Patch the mutant in, the way a user's fault would appear; restore everything on exit.

    A function target is replaced in its defining module and in every loaded module that bound the
    same object under any name (``from x import f``; ``import x as y`` reaches it through the module),
    except the catalogue's own modules (they hold the originals their mutants call). Private path
    functions (a numba kernel wrapper's kernel, the numpy fallback's helpers, the loop ground truth)
    are patched where the public wrappers look them up, so exactly that path carries the fault. A
    bound constant ``module.DICT[KEY]`` is replaced by ``fn()`` for the duration.
    """
    mut = CATALOGUE[m] if isinstance(m, str) else m
    item = _ITEM.match(mut.target)
    if item is not None:
        mod, attr = resolve(item["obj"])
        table = getattr(mod, attr)
        key = item["key"]
        if key not in table:
            raise KeyError(f"target: {mut.target} names no entry of {item['obj']}")
        saved = table[key]
        table[key] = mut.fn()
        try:
            yield mut
        finally:
            table[key] = saved
        return
    mod, attr = resolve(mut.target)
    original = getattr(mod, attr)
    patched: list[tuple[Any, str]] = []
    for name, module in list(sys.modules.items()):
        if module is None or name == "verify.mutants" or name.startswith("verify.mutants."):
            continue
        d = getattr(module, "__dict__", None)
        if not isinstance(d, dict):
            continue
        for k, v in list(d.items()):
            if v is original:
                patched.append((module, k))
    if (mod, attr) not in patched:
        patched.append((mod, attr))
    for module, k in patched:
        setattr(module, k, mut.fn)
    try:
        yield mut
    finally:
        for module, k in patched:
            setattr(module, k, original)
