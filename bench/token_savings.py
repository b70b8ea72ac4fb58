"""Token savings: what a scoped virtual server spares the agent in tool definitions.

For each built-in connector, the size of the ``tools/list`` result carrying its full catalog versus
typical scoped servers (1, 3 and 5 tools), in bytes and in estimated tokens (≈ 4 bytes a token,
the usual rule of thumb for English-and-JSON text with GPT/Claude tokenizers).

    python bench/token_savings.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import all_connectors  # noqa: E402

BYTES_PER_TOKEN = 4
SCOPES = (1, 3, 5)


def tools_list_bytes(definitions: list[dict[str, Any]]) -> int:
    """Bytes of the JSON-RPC response an agent receives for tools/list."""
    response = {"jsonrpc": "2.0", "id": 1, "result": {"tools": definitions}}
    return len(json.dumps(response, separators=(",", ":")).encode())


def measure() -> list[dict[str, Any]]:
    rows = []
    for connector in all_connectors():
        definitions = [tool.definition() for tool in connector.tools]
        full = tools_list_bytes(definitions)
        row: dict[str, Any] = {
            "connector": connector.slug,
            "tools": len(definitions),
            "full_bytes": full,
            "full_tokens": full // BYTES_PER_TOKEN,
            "scoped": {},
        }
        for n in SCOPES:
            if n >= len(definitions):
                continue
            scoped = tools_list_bytes(definitions[:n])
            row["scoped"][n] = {
                "bytes": scoped,
                "tokens": scoped // BYTES_PER_TOKEN,
                "saved_pct": round(100 * (1 - scoped / full), 1),
            }
        rows.append(row)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    header = f"{'connector':<16}{'tools':>6}{'full tokens':>13}" + "".join(
        f"{f'{n} tool(s)':>20}" for n in SCOPES
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(
            f"{(str(s['tokens']) + ' (−' + str(s['saved_pct']) + '%)'):>20}"
            if (s := row["scoped"].get(n))
            else f"{'–':>20}"
            for n in SCOPES
        )
        lines.append(f"{row['connector']:<16}{row['tools']:>6}{row['full_tokens']:>13}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    rows = measure()
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
