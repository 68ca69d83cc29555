#!/usr/bin/env python3
# nc-harden's drop-in for NemoClaw's openclaw-config-guard.py, installed at its path and run
# as it is run (python3 -I openclaw-config-guard.py ACTION --config-dir DIR ...).
# preflight, lock and unlock: nc-harden (execv). Every other action: the original guard, run
# in this process under this installed name (its startup lease is stricter for the guard at
# the installed path), after nc-harden's pins are taken off where the original would refuse
# them; the next lock pins again. See docs/nemoclaw-drop-in.md. Paths are set by make install.
import os
import stat
import sys

NC_HARDEN = "@BINDIR@/nc-harden"
ORIGINAL = "@NEMOCLAW_LIBDIR@/openclaw-config-guard.orig.py"
DROP_IN = ("preflight", "lock", "unlock")
# The original refuses files that carry the immutable flag for these (the startup markers
# and anything unknown go to it as they are).
NEEDS_UNPIN = ("preflight-restart", "seal-restart", "unseal-restart", "write-config", "recover")
VALUED = ("--config-dir", "--expected-config-sha256")


def action_and_dir(args):
    action, config_dir, i = None, None, 0
    while i < len(args):
        arg = args[i]
        i += 1
        name, eq, value = arg.partition("=")
        option = [o for o in VALUED if len(name) > 2 and o.startswith(name)]
        if arg.startswith("--") and option:
            if not eq and i < len(args):
                value, i = args[i], i + 1
            if option[0] == "--config-dir":
                config_dir = value
        elif not arg.startswith("-") and action is None:
            action = arg
    return action, config_dir


def fail(action, code, detail, issue_line=None):
    import json

    issue = {"type": "issue", "code": code, "path": NC_HARDEN, "detail": detail}
    print(issue_line or json.dumps(issue, sort_keys=True))
    print(json.dumps({"type": "result", "action": action, "status": "failed"}, sort_keys=True))
    sys.stdout.flush()
    os._exit(1)


def run_original(action, args):
    # Root's own file, as managed-gateway-control.py requires of the guard itself.
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


def main():
    args = sys.argv[1:]
    action, config_dir = action_and_dir(args)
    if action in DROP_IN:
        try:
            os.execv(NC_HARDEN, [NC_HARDEN, "guard", "openclaw-config", *args])
        except OSError as exc:
            fail(action, "exec-failed", f"cannot run nc-harden: {exc}")
    if action in NEEDS_UNPIN:
        import subprocess

        unpin = [NC_HARDEN, "guard", "openclaw-config", "unpin"]
        unpin += ["--config-dir", config_dir] if config_dir is not None else []
        try:
            done = subprocess.run(unpin, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as exc:
            fail(action, "exec-failed", f"cannot run nc-harden: {exc}")
        if done.returncode != 0:
            lines = done.stdout.decode("ascii", "replace").splitlines()
            issue = next((line for line in lines if '"type": "issue"' in line), None)
            fail(action, "unpin-failed", f"nc-harden unpin exited {done.returncode}", issue)
    run_original(action, args)


main()
