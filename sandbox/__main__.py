"""`python -m sandbox`: run the sandbox alone in the foreground.

Home is `OM_HOME` or `.om`; an empty sandbox is seeded with the demo data.
Stops cleanly on SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sandbox.server import (
    DEFAULT_LICENSE_PORT,
    DEFAULT_SALESFORCE_PORT,
    DEFAULT_SUPPORT_DESK_PORT,
    SandboxInfo,
    SandboxStartError,
    run_sandbox,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("OM_HOME", ".om")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--salesforce-port", type=int, default=DEFAULT_SALESFORCE_PORT)
    parser.add_argument("--support-desk-port", type=int, default=DEFAULT_SUPPORT_DESK_PORT)
    parser.add_argument("--license-port", type=int, default=DEFAULT_LICENSE_PORT)
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo data")
    args = parser.parse_args(argv)

    def ready(info: SandboxInfo, seeded: list[str]) -> None:
        print(json.dumps(info.info_json(), indent=2), flush=True)
        note = f"seeded {len(seeded)} demo opportunities; " if seeded else ""
        print(
            f"sandbox running ({note}home {info.home}); Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )

    try:
        run_sandbox(
            args.home,
            args.host,
            args.salesforce_port,
            args.support_desk_port,
            args.license_port,
            seed_demo=not args.no_demo,
            on_ready=ready,
        )
    except SandboxStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
