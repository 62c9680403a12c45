"""Prints the Mirror program's interface from the committed IDL: `python -m mirror_common.idl_summary`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IDL_PATH = Path(__file__).resolve().parent.parent / "idl" / "mirror.json"


def summary(idl: dict[str, Any]) -> str:
    lines = [f"Mirror program {idl['address']} (IDL spec {idl['metadata']['spec']})", "", "Instructions:"]
    for ix in idl["instructions"]:
        args = ", ".join(f"{a['name']}" for a in ix["args"])
        signers = [a["name"] for a in ix["accounts"] if a.get("signer")]
        lines.append(f"  {ix['name']}({args})  signed by: {', '.join(signers)}")
    lines += ["", "Events: " + ", ".join(e["name"] for e in idl["events"])]
    lines += ["Accounts: " + ", ".join(a["name"] for a in idl["accounts"])]
    lines += [f"Errors: {len(idl['errors'])} ({idl['errors'][0]['code']}..{idl['errors'][-1]['code']})"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(json.loads(IDL_PATH.read_text())))
