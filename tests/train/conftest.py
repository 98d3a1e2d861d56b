"""Fixtures for trainer tests: tiny LLaVA/Alpaca data files (tiny_llava is in tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

IMAGES = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")
CAPTIONS = ("an astronaut in a suit", "a cat on a sofa", "a cup of coffee", "a rocket on a pad")


@pytest.fixture(scope="session")
def image_data(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A folder with four real images, a caption file (plain) and a conversation file."""
    root = tmp_path_factory.mktemp("image-data")
    for name in IMAGES:
        shutil.copy(data_dir / "sample_images" / name, root / name)
    captions = image_conversations("cap", "Render a short caption.\n<image>")
    chats = image_conversations("chat", "<image>\nWhat is it?")
    (root / "captions.json").write_text(json.dumps(captions), encoding="utf-8")
    (root / "chat.json").write_text(json.dumps(chats), encoding="utf-8")
    return root


def image_conversations(prefix: str, question: str) -> list[dict[str, object]]:
    """One LLaVA record per image: `question`, answered by the image's caption."""
    return [
        {
            "id": f"{prefix}{i}",
            "image": img,
            "conversations": [
                {"from": "human", "value": question},
                {"from": "gpt", "value": cap},
            ],
        }
        for i, (img, cap) in enumerate(zip(IMAGES, CAPTIONS, strict=True))
    ]


@pytest.fixture(scope="session")
def alpaca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four short Alpaca records."""
    path = tmp_path_factory.mktemp("alpaca") / "alpaca.json"
    records = [
        {"instruction": "Is a cat an animal?", "input": "", "output": "yes"},
        {"instruction": "Is a rock alive?", "input": "", "output": "no"},
        {"instruction": "Name a colour.", "input": "", "output": "blue"},
        {"instruction": "Repeat the input.", "input": "Hello", "output": "Hello"},
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path
