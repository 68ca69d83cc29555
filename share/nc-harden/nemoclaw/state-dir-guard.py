#!/usr/bin/env python3
# nc-harden's drop-in for NemoClaw's state-dir-guard.py, installed at its path and run as it
# is run (python3 -I state-dir-guard.py ACTION --config-dir DIR). preflight, lock and unlock:
# nc-harden (execv); anything else: the original guard, run in this process under this
# installed name (whose parser rejects it as before). See docs/nemoclaw-drop-in.md. Paths
# are set by make install.
import os
import stat
import sys

NC_HARDEN = "@BINDIR@/nc-harden"
ORIGINAL = "@NEMOCLAW_LIBDIR@/state-dir-guard.orig.py"
DROP_IN = ("preflight", "lock", "unlock")


def fail(action, code, detail):
    import json

    issue = {"type": "issue", "code": code, "path": NC_HARDEN, "detail": detail}
    result = {"type": "result", "action": action, "status": "failed", "roots": 0,
              "directories": 0, "files": 0, "symlinks": 0, "removedEntries": 0,
              "issueCount": 1}
    for record in (issue, result):
        print(json.dumps(record, sort_keys=True, separators=(",", ":")))
    sys.stdout.flush()
    os._exit(1)


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
            fail(action, "exec-failed", f"cannot run nc-harden: {exc}")
    st = os.lstat(ORIGINAL)
    if not (stat.S_ISREG(st.st_mode) and st.st_uid == 0 and st.st_nlink == 1 and not st.st_mode & 0o022):
        fail(action, "untrusted-original", f"{ORIGINAL} must be a root-owned regular file without group/world write")
    import types

    with open(ORIGINAL, "rb") as source:
        code = compile(source.read(), __file__, "exec")
    module = types.ModuleType("__main__")
    module.__file__ = __file__
    sys.argv = [__file__, *args]
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


main()
