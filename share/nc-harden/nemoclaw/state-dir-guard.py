#!/usr/bin/env python3
# nc-harden's drop-in for NemoClaw's state-dir-guard.py, installed at its path and run as it
# is run (python3 -I state-dir-guard.py ACTION --config-dir DIR). preflight, lock and unlock:
# nc-harden; anything else: the original guard (which rejects it as its parser does).
# See docs/nemoclaw-drop-in.md. Paths are set by `make install`.
import os
import sys

NC_HARDEN = "@BINDIR@/nc-harden"
ORIGINAL = "@NEMOCLAW_LIBDIR@/state-dir-guard.orig.py"
DROP_IN = ("preflight", "lock", "unlock")


def main():
    args = sys.argv[1:]
    # The value of --config-dir (or of a prefix of it, as argparse takes it) is no action.
    values = [i + 1 for i, a in enumerate(args) if len(a) > 2 and "--config-dir".startswith(a)]
    positional = [a for i, a in enumerate(args) if not a.startswith("-") and i not in values]
    action = positional[0] if positional else None
    if action in DROP_IN:
        try:
            os.execv(NC_HARDEN, [NC_HARDEN, "guard", "state-dir", *args])
        except OSError as exc:
            import json

            detail = f"cannot run nc-harden: {exc}"
            issue = {"type": "issue", "code": "exec-failed", "path": NC_HARDEN, "detail": detail}
            result = {"type": "result", "action": action, "status": "failed", "roots": 0,
                      "directories": 0, "files": 0, "symlinks": 0, "removedEntries": 0,
                      "issueCount": 1}
            for record in (issue, result):
                print(json.dumps(record, sort_keys=True, separators=(",", ":")))
            sys.stdout.flush()
            os._exit(1)
    os.execv(sys.executable, [sys.executable, "-I", ORIGINAL, *args])


main()
