"""Record what every shipped model outputs for fixed inputs and seeds (``tests/data/shipped_outputs.json``).

``tests/contract/test_shipped_outputs.py`` compares the shipped models against this record, so a
refactor that changes what a shipped model draws or scores fails. Re-record only on purpose (a
retrained model), with the reason in the commit:

    python scripts/record_shipped_outputs.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "contract"))

from shipped_outputs import RECORD, SHIPPED, fingerprint  # noqa: E402


def main() -> int:
    record = {name: fingerprint(make()) for name, make in SHIPPED.items()}
    RECORD.write_text("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in record.items()) + "\n}\n")
    print(f"wrote {RECORD.relative_to(ROOT)} ({', '.join(record)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
