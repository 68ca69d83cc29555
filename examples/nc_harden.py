"""Load nc-harden from Python with ctypes, the way a launcher helper script does.

    from nc_harden import NcHarden
    nc = NcHarden()                       # libnc_harden.so.0, or $NC_HARDEN_LIB
    status, report = nc.freeze("/sandbox/.openclaw", "/sandbox/.openclaw-data",
                               required=["openclaw.json"])
    if status != "NC_OK":
        print("[SECURITY]", report["summary"])

Each call returns the status name and the report as a dict (the library's JSON). The
report is freed before the call returns; nothing of the library outlives it.
"""

import ctypes
import json
import os


class _Options(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("owner_uid", ctypes.c_uint32),
        ("strategy", ctypes.c_uint32),
        ("required", ctypes.POINTER(ctypes.c_char_p)),
    ]


STRATEGIES = {"auto": 0, "immutable": 1, "mount": 2, "both": 3}


class NcHarden:
    def __init__(self, path=None):
        path = path or os.environ.get("NC_HARDEN_LIB") or "libnc_harden.so.0"
        lib = ctypes.CDLL(path)
        call = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Options), ctypes.POINTER(ctypes.c_void_p)]
        for name in ("nc_validate_and_freeze", "nc_verify", "nc_unfreeze"):
            f = getattr(lib, name)
            f.argtypes, f.restype = call, ctypes.c_uint32
        lib.nc_report_json.argtypes, lib.nc_report_json.restype = [ctypes.c_void_p], ctypes.c_void_p
        lib.nc_string_free.argtypes, lib.nc_string_free.restype = [ctypes.c_void_p], None
        lib.nc_report_free.argtypes, lib.nc_report_free.restype = [ctypes.c_void_p], None
        lib.nc_status_name.argtypes, lib.nc_status_name.restype = [ctypes.c_uint32], ctypes.c_char_p
        lib.nc_version.argtypes, lib.nc_version.restype = [], ctypes.c_char_p
        self._lib = lib

    @property
    def version(self):
        return self._lib.nc_version().decode()

    def _call(self, fn, dir, data_dir, required=(), owner=0, strategy="auto"):
        names = [os.fsencode(n) for n in required]
        array = (ctypes.c_char_p * (len(names) + 1))(*names, None)
        opts = _Options(ctypes.sizeof(_Options), 0, owner, STRATEGIES[strategy],
                        ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p)) if names else None)
        report = ctypes.c_void_p()
        code = fn(os.fsencode(dir), os.fsencode(data_dir), ctypes.byref(opts), ctypes.byref(report))
        status = self._lib.nc_status_name(code).decode()
        if not report:
            return status, None
        try:
            text = self._lib.nc_report_json(report)
            try:
                return status, json.loads(ctypes.string_at(text).decode())
            finally:
                self._lib.nc_string_free(text)
        finally:
            self._lib.nc_report_free(report)

    def freeze(self, dir, data_dir, **kw):
        return self._call(self._lib.nc_validate_and_freeze, dir, data_dir, **kw)

    def verify(self, dir, data_dir, **kw):
        return self._call(self._lib.nc_verify, dir, data_dir, **kw)

    def unfreeze(self, dir, data_dir, **kw):
        return self._call(self._lib.nc_unfreeze, dir, data_dir, **kw)
