"""docs/trainer.md lists every TrainerConfig option as the source's field comments describe it."""

import dataclasses
import re
from pathlib import Path

from multigan.core.trainer import TrainerConfig, trainer_config_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "trainer.md"


def test_trainer_docs_table_is_the_generated_one():
    table = trainer_config_reference()
    block = re.search(r"<!-- trainer-config -->\n(.*?)\n<!-- /trainer-config -->", DOC.read_text(), re.S)
    assert block, "docs/trainer.md lost its trainer-config block"
    assert block.group(1) == table, "docs/trainer.md is stale: run python scripts/build_trainer_docs.py"
    rows = table.splitlines()[2:]
    assert [r.split("`")[1] for r in rows] == [f.name for f in dataclasses.fields(TrainerConfig)]
    assert "| `max_weight` | `1e6` | stop when a weight's magnitude exceeds this" in table
