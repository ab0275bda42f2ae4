"""Rewrite the TrainerConfig table in docs/trainer.md from the field comments in multigan/core/trainer.py.

    python scripts/build_trainer_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path

from multigan.core.trainer import trainer_config_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "trainer.md"
BLOCK = re.compile(r"(<!-- trainer-config -->\n).*?(<!-- /trainer-config -->)", re.S)


def main() -> None:
    text = DOC.read_text()
    if not BLOCK.search(text):
        raise SystemExit(f"{DOC} has no <!-- trainer-config --> block")
    DOC.write_text(BLOCK.sub(lambda m: m.group(1) + trainer_config_reference() + "\n" + m.group(2), text))
    print(f"wrote the TrainerConfig table into {DOC}")


if __name__ == "__main__":
    main()
