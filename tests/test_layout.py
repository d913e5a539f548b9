"""The package reads top-down (docs/design.md, "Layers"): no room imports a room above it, and
nothing but the package's own plumbing is loose at its root."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_repsl"

# Lowest first; a room may import its own layer and the ones below.
LAYERS = [
    {"about", "lazy", "iob", "storage"},
    {"tokenization", "decoder", "engines"},
    {"encoders"},
    {"models"},
    {"pipeline"},
    {"datasets", "training"},
    {"calibrate", "export", "label", "experiments"},
    {"benchmark", "__init__"},
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_rooms(path: Path, source=None):
    package = ("spacy_repsl",) + path.relative_to(PACKAGE).parts[:-1]
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + tuple((node.module or "").split(".")) if node.module else base
            else:
                target = tuple((node.module or "").split("."))
            if target[0] != "spacy_repsl":
                continue
            rooms = [target[1]] if len(target) > 1 else [alias.name for alias in node.names]
            for room in rooms:
                yield node.lineno, room
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name.split(".")
                if target[0] == "spacy_repsl" and len(target) > 1:
                    yield node.lineno, target[1]


def test_every_room_has_a_layer():
    rooms = {room_of(p) for p in PACKAGE.rglob("*.py")}
    assert rooms <= set(RANK), f"rooms without a layer in LAYERS (add them, and to docs/design.md): {rooms - set(RANK)}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_room_imports_upward(path):
    room = room_of(path)
    upward = [
        (line, target)
        for line, target in imported_rooms(path)
        if target in RANK and target != room and RANK[target] > RANK[room]
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} ({room}) imports rooms above it: {upward}"


def test_the_root_holds_only_plumbing():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "about.py", "lazy.py"], loose


def test_the_layering_check_sees_upward_imports():
    # The check must catch what it exists for, in each spelling: relative, lazy, absolute.
    path = PACKAGE / "storage" / "paths.py"
    source = "from ..pipeline import tagger\ndef f():\n    from ..models.base import build_base\nimport spacy_repsl.label.run\n"
    assert sorted(room for _, room in imported_rooms(path, source)) == ["label", "models", "pipeline"]
