"""The ctypes helper against a real layout: freeze, verify, an attacker's symlink that fails,
unfreeze. Usage: check_ctypes.py DIR DATA_DIR (with NC_HARDEN_LIB naming the library)."""

import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nc_harden import NcHarden  # noqa: E402


def main(dir, data_dir):
    nc = NcHarden()
    assert nc.version, "a version string"
    status, report = nc.freeze(dir, data_dir, required=["openclaw.json"])
    assert status == "NC_OK", report["summary"]
    assert report["code"] == 0 and report["layers"] == ["immutable"], report
    assert any(e["name"] == "hooks" and e["kind"] == "symlink" for e in report["entries"])
    try:
        os.symlink("/etc", os.path.join(dir, ".evil"))
        raise AssertionError("a link was created in a frozen directory")
    except PermissionError as e:
        assert e.errno == errno.EPERM
    status, report = nc.verify(dir, data_dir)
    assert status == "NC_OK", report["summary"]
    status, report = nc.unfreeze(dir, data_dir)
    assert status == "NC_OK", report["summary"]
    status, _ = nc.verify(dir, data_dir)
    assert status == "NC_NOT_FROZEN", status
    status, report = nc.freeze("relative", data_dir)
    assert status == "NC_BAD_ARGUMENT" and report is None
    print("ctypes: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
