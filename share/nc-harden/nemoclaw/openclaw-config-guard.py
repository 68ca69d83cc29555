#!/usr/bin/env python3
# nc-harden's drop-in for NemoClaw's openclaw-config-guard.py, installed at its path and run
# as it is run (python3 -I openclaw-config-guard.py ACTION --config-dir DIR ...).
# preflight, lock and unlock: nc-harden. Every other action: the original guard, after
# nc-harden's pins are taken off (it refuses files that carry the immutable flag); the next
# lock pins again. See docs/nemoclaw-drop-in.md. Paths are set by `make install`.
import os
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


def fail(action, code, detail):
    import json

    issue = {"type": "issue", "code": code, "path": NC_HARDEN, "detail": detail}
    print(json.dumps(issue, sort_keys=True))
    print(json.dumps({"type": "result", "action": action, "status": "failed"}, sort_keys=True))
    sys.stdout.flush()
    os._exit(1)


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
            issue = next((l for l in done.stdout.decode().splitlines() if '"issue"' in l), None)
            if issue is None:
                fail(action, "unpin-failed", f"nc-harden unpin exited {done.returncode}")
            import json

            print(issue)
            print(json.dumps({"type": "result", "action": action, "status": "failed"}, sort_keys=True))
            sys.stdout.flush()
            os._exit(1)
    os.execv(sys.executable, [sys.executable, "-I", ORIGINAL, *args])


main()
