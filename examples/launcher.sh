# shellcheck shell=sh
# nc-harden for shell launchers: drop-in replacements for the functions NemoClaw's
# entrypoints call to check and lock their configuration directory. `make install` puts this
# file in $(PREFIX)/share/nc-harden/launcher.sh (/usr/local/share/nc-harden/launcher.sh by
# default, /usr/share/nc-harden/launcher.sh with PREFIX=/usr). Source it after NemoClaw's own
# scripts/lib/sandbox-init.sh (so that these definitions win), then call the functions
# exactly as before: bare, under `set -euo pipefail`.
#
#     . /usr/local/share/nc-harden/launcher.sh
#     validate_openclaw_symlinks                  # NemoClaw <= 0.0.30
#     harden_openclaw_symlinks
#     verify_config_integrity /sandbox/.openclaw  # NemoClaw 0.0.31 and later
#     validate_config_symlinks /sandbox/.openclaw /sandbox/.openclaw-data
#     harden_config_symlinks /sandbox/.openclaw
#
# Every function returns 0 when the entrypoint may go on and 1 when it must stop, so a bare
# call under `set -e` starts every valid layout and stops every invalid one. Reasons go to
# stderr on lines that start with "[SECURITY] ": nc-harden's own lines, then the lines
# NemoClaw's functions printed ("... points to unexpected target: T (expected E)",
# "Config hash file missing", "Config integrity check FAILED"). The status nc-harden answered
# is left in NC_HARDEN_STATUS (0 OK, 1 PARTIAL, 2 NO_CAPABILITY, 3 UNSUPPORTED,
# 4 NOT_FROZEN, 10 INVALID, 11 UNSAFE_PATH, 12 NOT_FOUND, ...).
#
# What the functions do:
#   validate_*   `nc-harden verify`: read-only. Valid and pinned, or valid and not pinned yet
#                (the harden step comes next): 0. Anything invalid: 1.
#   harden_*     `nc-harden freeze`: pins first, then validates what is pinned (no window
#                between check and lock); an invalid layout is refused and left unchanged.
#                Where nothing could be pinned (no CAP_LINUX_IMMUTABLE nor CAP_SYS_ADMIN, not
#                root, no flag support) it says so loudly and goes on; NC_HARDEN_STRICT=1
#                makes that fatal.
#   verify_config_integrity DIR [HASH_FILE]
#                the seal: `nc-harden verify --dir DIR --seal .config-hash` (sha256sum
#                format, checked against the files' bytes, with the rest of the policy).
#   verify_config_integrity_if_locked DIR [HASH_FILE]
#                the same once the shields are up (the hash file is root's, read-only);
#                skipped, and said, for NemoClaw's mutable default.
#
# A symlink must read exactly DATA_DIR/<name> (no chain, no relative link, dotfiles too); a
# link whose DATA_DIR/<name> does not exist yet is accepted and reported, since the
# entrypoint creates some (logs) after hardening. A directory whose data directory does not
# exist is checked as a flat directory: regular files only, any symlink refused.
#
# docs/launcher.md says more (environments, messages, adding nc-harden to an image).
#
# Settings (environment):
#   OPENCLAW_DIR        (default /sandbox/.openclaw)        for the *_openclaw_* functions
#   OPENCLAW_DATA_DIR   (default /sandbox/.openclaw-data)
#   OPENCLAW_REQUIRED   names that must exist, separated by spaces (default: none)
#   HERMES_DIR          (default /sandbox/.hermes)          for the *_hermes_* functions
#   HERMES_DATA_DIR     (default /sandbox/.hermes-data)
#   HERMES_REQUIRED     (default: none)
#   NC_HARDEN_REQUIRED  required names for the *_config_* functions (default: none)
#   NC_HARDEN_OWNER     owner of DIR and its regular files (default: 0 as root; the calling
#                       user otherwise, as in NemoClaw's non-root mode)
#   NC_HARDEN           the nc-harden command (default: nc-harden on PATH, else the one
#                       installed beside this file, ../../bin/nc-harden)
#   NC_HARDEN_STRICT=1  fail when nothing could be pinned, instead of warning and going on
#   NC_HARDEN_ALLOW_MISSING=0
#                       refuse a link whose DATA_DIR/<name> does not exist (yet), instead of
#                       accepting and reporting it

_nc_die_hint="refusing to start"

# The nc-harden command.
_nc_bin() {
    if [ -n "${NC_HARDEN:-}" ]; then
        printf '%s' "$NC_HARDEN"
        return 0
    fi
    if command -v nc-harden >/dev/null 2>&1; then
        command -v nc-harden
        return 0
    fi
    # shellcheck disable=SC3028,SC3054 # bash only; empty under other shells
    _nc_self="${BASH_SOURCE:-}"
    case "$_nc_self" in
        */*) _nc_self="${_nc_self%/*}/../../bin/nc-harden" ;;
        *) _nc_self="" ;;
    esac
    if [ -n "$_nc_self" ] && [ -x "$_nc_self" ]; then
        printf '%s' "$_nc_self"
        return 0
    fi
    printf '%s' nc-harden
}

_nc_status_name() {
    case "$1" in
        0) echo NC_OK ;;
        1) echo NC_PARTIAL ;;
        2) echo NC_NO_CAPABILITY ;;
        3) echo NC_UNSUPPORTED ;;
        4) echo NC_NOT_FROZEN ;;
        10) echo NC_INVALID ;;
        11) echo NC_UNSAFE_PATH ;;
        12) echo NC_NOT_FOUND ;;
        20) echo NC_BAD_ARGUMENT ;;
        21) echo NC_IO_ERROR ;;
        64) echo "usage error" ;;
        70) echo NC_INTERNAL ;;
        126 | 127) echo "nc-harden could not be run" ;;
        *) echo "exit $1" ;;
    esac
}

# The data directory that goes with DIR when the caller names none.
_nc_default_data_dir() {
    if [ "$1" = "${OPENCLAW_DIR:-/sandbox/.openclaw}" ]; then
        printf '%s' "${OPENCLAW_DATA_DIR:-/sandbox/.openclaw-data}"
    elif [ "$1" = "${HERMES_DIR:-/sandbox/.hermes}" ]; then
        printf '%s' "${HERMES_DATA_DIR:-/sandbox/.hermes-data}"
    else
        printf '%s' "$1-data"
    fi
}

# The rejected entries of a JSON report, one a line, fields separated by \037:
# E, name (escaped), reason, target, expected target. Targets keep their JSON escapes
# (apart from \" \\ \/), so that no byte of an entry can forge or cut a log line; nc-harden
# writes every control and line break as an escape (\u2028, \u0085, \u007f, ...), and any
# that a report held raw all the same (C0, DEL, C1 and U+2028/9 in UTF-8) is written \xNN.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
_NC_JSON_AWK='
BEGIN { for (b = 1; b < 256; b++) byte[sprintf("%c", b)] = b }
function safe(v,   out, i) {
    out = ""
    while (match(v, /[\001-\037\177]|\302[\200-\237]|\342\200[\250\251]/)) {
        out = out substr(v, 1, RSTART - 1)
        for (i = RSTART; i < RSTART + RLENGTH; i++) out = out sprintf("\\x%02x", byte[substr(v, i, 1)])
        v = substr(v, RSTART + RLENGTH)
    }
    return out v
}
function flush() {
    if (rec_reason != "")
        printf "E%s%s%s%s%s%s%s%s\n", US, rec["escaped"], US, rec_reason, US, rec["target"], US, rec["expected_target"]
    split("", rec); rec_reason = ""
}
{
    s = $0; n = length(s); stack = ""; key = ""; arr = ""
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "\"") {
            v = ""
            for (i++; i <= n; i++) {
                c = substr(s, i, 1)
                if (c == "\\") {
                    d = substr(s, i + 1, 1)
                    if (d == "\"" || d == "\\" || d == "/") v = v d; else v = v c d
                    i++
                } else if (c == "\"") break
                else v = v c
            }
            j = i + 1
            while (substr(s, j, 1) == " ") j++
            if (substr(s, j, 1) == ":") { key = v; i = j; continue }
            value(v)
        } else if (c == "{" || c == "[") {
            if (c == "[" && stack == "{") arr = key
            stack = stack c; key = ""
        } else if (c == "}" || c == "]") {
            if (c == "}" && stack == "{[{" && arr == "entries") flush()
            stack = substr(stack, 1, length(stack) - 1)
        } else if (c != "," && c != " ") {
            v = c
            while (i < n && index(",}] ", substr(s, i + 1, 1)) == 0) { i++; v = v substr(s, i, 1) }
            if (v == "null") v = ""
            value(v)
        }
    }
}
function value(v) {
    if (stack == "{[{" && arr == "entries") {
        rec[key] = safe(v)
        if (key == "reason") rec_reason = v
    }
}
'

# _nc_run OP DIR DATA_DIR REQUIRED [SEAL]: runs nc-harden OP on DIR (with --data-dir when
# DATA_DIR exists, else flat) and --json; its human lines go to stderr as they come. Sets
# _nc_rc (never fails, whatever the exit code) and _nc_report (the rejected entries).
_nc_run() {
    _nc_op="$1" _nc_dir="$2" _nc_data="$3" _nc_req="$4" _nc_seal="${5:-}"
    _nc_cmd="$(_nc_bin)"
    _nc_uid="$(id -u)"
    set -- "$_nc_op" --dir "$_nc_dir" --json
    if [ -n "$_nc_data" ] && { [ -e "$_nc_data" ] || [ -L "$_nc_data" ]; }; then
        set -- "$@" --data-dir "$_nc_data"
        [ "${NC_HARDEN_ALLOW_MISSING:-1}" = 0 ] || set -- "$@" --allow-missing
    fi
    if [ -n "${NC_HARDEN_OWNER:-}" ]; then
        set -- "$@" --owner "$NC_HARDEN_OWNER"
    elif [ "$_nc_uid" -ne 0 ]; then
        set -- "$@" --owner "$_nc_uid"
    fi
    [ -z "$_nc_seal" ] || set -- "$@" --seal "$_nc_seal"
    case "$-" in *f*) _nc_noglob=1 ;; *) _nc_noglob=0 ;; esac
    set -f
    for _nc_name in $_nc_req; do
        set -- "$@" --require "$_nc_name"
    done
    [ "$_nc_noglob" = 1 ] || set +f
    _nc_rc=0
    _nc_json="$("$_nc_cmd" "$@")" || _nc_rc=$?
    # shellcheck disable=SC2034 # for the caller
    NC_HARDEN_STATUS=$_nc_rc
    _nc_report=""
    if [ "$_nc_rc" -ge 10 ] && [ -n "$_nc_json" ]; then
        _nc_report="$(printf '%s\n' "$_nc_json" | LC_ALL=C awk -v US="$(printf '\037')" "$_NC_JSON_AWK")" || _nc_report=""
    fi
    if [ "$_nc_rc" -eq 126 ] || [ "$_nc_rc" -eq 127 ]; then
        echo "[SECURITY] nc-harden could not be run (${_nc_cmd}): install it in the image or set NC_HARDEN" >&2
    fi
    return 0
}

# Prints the lines NemoClaw's functions printed for the rejected entries of _nc_report.
# Tells, in _nc_seal_state, what became of the seal: "", missing, broken.
_nc_explain() {
    _nc_seal_state=""
    [ -n "$_nc_report" ] || return 0
    _nc_ifs="$IFS"
    IFS="$(printf '\037')"
    while read -r _nc_tag _nc_name _nc_reason _nc_target _nc_expected; do
        [ "$_nc_tag" = E ] || continue
        case "$_nc_reason" in
            link_target_mismatch)
                echo "[SECURITY] Symlink ${_nc_dir}/${_nc_name} points to unexpected target: ${_nc_target} (expected ${_nc_expected})" >&2
                ;;
            unexpected_symlink)
                echo "[SECURITY] Symlink ${_nc_dir}/${_nc_name} points to unexpected target: ${_nc_target} (expected no symlink: ${_nc_dir} has no data directory)" >&2
                ;;
            seal_missing) _nc_seal_state=missing ;;
            seal_mismatch | seal_malformed) _nc_seal_state=broken ;;
        esac
    done <<EOF
$_nc_report
EOF
    IFS="$_nc_ifs"
}

_nc_refuse() {
    echo "[SECURITY] nc-harden $1 ${_nc_dir}: $(_nc_status_name "$_nc_rc") — ${_nc_die_hint}" >&2
}

# _nc_validate DIR DATA_DIR REQUIRED
_nc_validate() {
    _nc_run verify "$1" "$2" "$3"
    case "$_nc_rc" in
        0 | 1 | 2 | 3 | 4)
            if [ "$_nc_uid" -ne 0 ]; then
                echo "[SECURITY] ${_nc_dir} is valid; running as uid ${_nc_uid} (non-root): nothing can be pinned (that needs root with CAP_LINUX_IMMUTABLE or CAP_SYS_ADMIN)" >&2
            fi
            return 0
            ;;
    esac
    _nc_explain
    _nc_refuse verify
    return 1
}

# _nc_harden DIR DATA_DIR REQUIRED
_nc_harden() {
    _nc_run freeze "$1" "$2" "$3"
    case "$_nc_rc" in
        0) return 0 ;;
        1 | 2 | 3)
            if [ "$_nc_uid" -ne 0 ]; then
                _nc_why="running as uid ${_nc_uid} (non-root): nothing can be pinned"
            else
                _nc_why="$(_nc_status_name "$_nc_rc"): ${_nc_dir} is valid but not (fully) pinned"
            fi
            if [ "${NC_HARDEN_STRICT:-0}" = 1 ]; then
                echo "[SECURITY] ${_nc_why}; NC_HARDEN_STRICT=1 — ${_nc_die_hint}" >&2
                return 1
            fi
            echo "[SECURITY] WARNING: ${_nc_why}; continuing with file permissions alone, which root without capabilities bypasses (NC_HARDEN_STRICT=1 makes this fatal)" >&2
            return 0
            ;;
    esac
    _nc_explain
    _nc_refuse freeze
    return 1
}

# --- NemoClaw <= 0.0.30: /sandbox/.openclaw and /sandbox/.openclaw-data ---------------------

validate_openclaw_symlinks() {
    _nc_validate "${OPENCLAW_DIR:-/sandbox/.openclaw}" \
        "${OPENCLAW_DATA_DIR:-/sandbox/.openclaw-data}" "${OPENCLAW_REQUIRED:-}"
}

harden_openclaw_symlinks() {
    _nc_harden "${OPENCLAW_DIR:-/sandbox/.openclaw}" \
        "${OPENCLAW_DATA_DIR:-/sandbox/.openclaw-data}" "${OPENCLAW_REQUIRED:-}"
}

# --- The Hermes agent: /sandbox/.hermes and /sandbox/.hermes-data ---------------------------

validate_hermes_symlinks() {
    _nc_validate "${HERMES_DIR:-/sandbox/.hermes}" \
        "${HERMES_DATA_DIR:-/sandbox/.hermes-data}" "${HERMES_REQUIRED:-}"
}

harden_hermes_symlinks() {
    _nc_harden "${HERMES_DIR:-/sandbox/.hermes}" \
        "${HERMES_DATA_DIR:-/sandbox/.hermes-data}" "${HERMES_REQUIRED:-}"
}

# --- NemoClaw 0.0.31: scripts/lib/sandbox-init.sh, for OpenClaw and Hermes alike -------------

# validate_config_symlinks DIR DATA_DIR
validate_config_symlinks() {
    _nc_validate "$1" "${2:-$(_nc_default_data_dir "$1")}" "${NC_HARDEN_REQUIRED:-}"
}

# harden_config_symlinks DIR [DATA_DIR]: a second argument that is not an absolute path is
# NemoClaw's label ("hermes") and names no data directory.
harden_config_symlinks() {
    case "${2:-}" in
        /*) _nc_hdata="$2" ;;
        *) _nc_hdata="$(_nc_default_data_dir "$1")" ;;
    esac
    _nc_harden "$1" "$_nc_hdata" "${NC_HARDEN_REQUIRED:-}"
}

# Every line of a trust anchor names a file of DIR, as nc-harden reads a seal: `NAME` or
# `DIR/NAME` (NemoClaw's images write `sha256sum /sandbox/.openclaw/openclaw.json`), NAME
# without '/', not `.` or `..`, the escapes of GNU sha256sum (`\` first, `\\`, `\n`, `\r`)
# undone first; `#` comments and empty lines are skipped (Hermes' anchor ends with one), as
# `sha256sum -c` skips them. Any other line (outside DIR, or one that `sha256sum -c` would
# only warn about and skip) fails, as does an anchor that names no file. DIR comes through
# the environment: awk -v would undo backslashes in it.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
_NC_ANCHOR_AWK='
BEGIN { dir = ENVIRON["_NC_ANCHOR_DIR"]; bad = 0; files = 0 }
{
    line = $0
    if (substr(line, 1, 1) == "#") next
    if (substr(line, length(line), 1) == "\r") line = substr(line, 1, length(line) - 1)
    if (line == "") next
    escaped = 0
    if (substr(line, 1, 1) == "\\") { escaped = 1; line = substr(line, 2) }
    hex = substr(line, 1, 64)
    sep = substr(line, 65, 2)
    name = substr(line, 67)
    if (length(hex) != 64 || hex ~ /[^0-9A-Fa-f]/ || (sep != "  " && sep != " *") || name == "") { bad = 1; next }
    if (escaped) {
        out = ""
        for (i = 1; i <= length(name); i++) {
            c = substr(name, i, 1)
            if (c == "\\") {
                d = substr(name, ++i, 1)
                if (d == "\\") out = out "\\"
                else if (d == "n") out = out "\n"
                else if (d == "r") out = out "\r"
                else { bad = 1; next }
            } else out = out c
        }
        name = out
    }
    if (substr(name, 1, length(dir) + 1) == dir "/") name = substr(name, length(dir) + 2)
    if (name == "" || name == "." || name == ".." || index(name, "/") > 0) { bad = 1; next }
    files++
}
END { exit (bad || files == 0) ? 1 : 0 }
'

# _nc_anchor_names_inside DIR HASH_FILE: whether every line of HASH_FILE names a file of DIR.
_nc_anchor_names_inside() {
    _NC_ANCHOR_DIR="$1" LC_ALL=C awk "$_NC_ANCHOR_AWK" "$2" </dev/null
}

# verify_config_integrity [DIR [HASH_FILE]]: DIR defaults to OPENCLAW_DIR (NemoClaw <= 0.0.30
# called it without arguments). A HASH_FILE inside DIR is the seal; one elsewhere is a trust
# anchor, as NemoClaw has it: root's, no write bit, and the files checked with sha256sum -c.
verify_config_integrity() {
    _nc_cdir="${1:-${OPENCLAW_DIR:-/sandbox/.openclaw}}"
    _nc_hash="${2:-${_nc_cdir}/.config-hash}"
    _nc_anchor=""
    case "$_nc_hash" in
        "$_nc_cdir"/*/*) _nc_anchor=1 ;;
        "$_nc_cdir"/*) ;;
        *) _nc_anchor=1 ;;
    esac
    if [ -n "$_nc_anchor" ]; then
        if [ ! -f "$_nc_hash" ]; then
            echo "[SECURITY] Config hash file missing (${_nc_hash}) — refusing to start without integrity verification" >&2
            return 1
        fi
        if [ -L "$_nc_hash" ]; then
            echo "[SECURITY] Config hash file is a symlink (${_nc_hash}) — refusing to trust it" >&2
            return 1
        fi
        _nc_hash_uid="$(stat -c '%u' "$_nc_hash" 2>/dev/null || echo unknown)"
        _nc_hash_mode="$(stat -c '%a' "$_nc_hash" 2>/dev/null || echo unknown)"
        if [ "$_nc_hash_uid" != 0 ]; then
            echo "[SECURITY] Config hash file ${_nc_hash} is owned by uid ${_nc_hash_uid}, expected root (uid 0)" >&2
            return 1
        fi
        case "$_nc_hash_mode" in
            *[!0-7]* | "") _nc_hash_w=1 ;;
            *) _nc_hash_w=$((0$_nc_hash_mode & 0222)) ;;
        esac
        if [ "$_nc_hash_w" -ne 0 ]; then
            echo "[SECURITY] Config hash file ${_nc_hash} has writable mode ${_nc_hash_mode}, expected no write bits" >&2
            return 1
        fi
        _nc_run verify "$_nc_cdir" "$(_nc_default_data_dir "$_nc_cdir")" ""
        case "$_nc_rc" in
            0 | 1 | 2 | 3 | 4) ;;
            *)
                _nc_explain
                _nc_refuse verify
                return 1
                ;;
        esac
        if ! _nc_anchor_names_inside "$_nc_cdir" "$_nc_hash"; then
            echo "[SECURITY] Config hash file ${_nc_hash} names a file outside ${_nc_cdir}, or a line sha256sum cannot read — refusing to trust it" >&2
            return 1
        fi
        if ! (cd "$_nc_cdir" && sha256sum -c "$_nc_hash" --status 2>/dev/null); then
            echo "[SECURITY] Config integrity check FAILED in ${_nc_cdir} — config may have been tampered with" >&2
            return 1
        fi
        return 0
    fi
    # The seal, on the bytes, by nc-harden: `sha256sum openclaw.json` in DIR and NemoClaw's
    # images' `sha256sum /sandbox/.openclaw/openclaw.json` (DIR/<name>) are both taken.
    _nc_run verify "$_nc_cdir" "$(_nc_default_data_dir "$_nc_cdir")" "" "${_nc_hash##*/}"
    case "$_nc_rc" in
        0 | 1 | 2 | 3 | 4) return 0 ;;
    esac
    _nc_explain
    if [ "$_nc_seal_state" = missing ] || { [ "$_nc_rc" -eq 12 ] && [ ! -e "$_nc_hash" ]; }; then
        echo "[SECURITY] Config hash file missing (${_nc_hash}) — refusing to start without integrity verification" >&2
    elif [ "$_nc_seal_state" = broken ]; then
        echo "[SECURITY] Config integrity check FAILED in ${_nc_cdir} — config may have been tampered with" >&2
    fi
    _nc_refuse verify
    return 1
}

# verify_config_integrity_if_locked DIR [HASH_FILE]: NemoClaw's mutable default (shields
# down: the sandbox user may edit the config and its hash) has nothing to verify; the locked
# posture (hash file root's without write bits, or, without a hash file, DIR root's and not
# writable by group or others) is verified strictly.
verify_config_integrity_if_locked() {
    if [ -n "${2:-}" ]; then
        verify_config_integrity "$1" "$2"
        return $?
    fi
    _nc_cdir="${1:-${OPENCLAW_DIR:-/sandbox/.openclaw}}"
    _nc_hash="${_nc_cdir}/.config-hash"
    if [ -f "$_nc_hash" ] && [ ! -L "$_nc_hash" ]; then
        _nc_l_uid="$(stat -c '%u' "$_nc_hash" 2>/dev/null || echo unknown)"
        _nc_l_mode="$(stat -c '%a' "$_nc_hash" 2>/dev/null || echo unknown)"
    else
        _nc_l_uid="$(stat -c '%u' "$_nc_cdir" 2>/dev/null || echo unknown)"
        _nc_l_mode="$(stat -c '%a' "$_nc_cdir" 2>/dev/null || echo unknown)"
    fi
    _nc_l_locked=0
    case "$_nc_l_mode" in
        *[!0-7]* | "") ;;
        *)
            if [ -f "$_nc_hash" ] && [ ! -L "$_nc_hash" ]; then
                [ "$_nc_l_uid" != 0 ] || [ $((0$_nc_l_mode & 0222)) -ne 0 ] || _nc_l_locked=1
            else
                [ "$_nc_l_uid" != 0 ] || [ $((0$_nc_l_mode & 0022)) -ne 0 ] || _nc_l_locked=1
            fi
            ;;
    esac
    if [ "$_nc_l_locked" = 1 ]; then
        if [ ! -e "$_nc_hash" ] && [ ! -L "$_nc_hash" ]; then
            echo "[SECURITY] Locked config is missing hash file (${_nc_hash}) — refusing to start without integrity verification" >&2
            return 1
        fi
        verify_config_integrity "$_nc_cdir"
        return $?
    fi
    echo "[SECURITY] Config integrity check skipped for mutable default (${_nc_cdir} is not locked)" >&2
    NC_HARDEN_STATUS=4
    return 0
}

# --- Shields over a profile (the layout NemoClaw ships now: state inside the directory) -------
#
#   nc_shields_up [PROFILE [DIR]]      `nc-harden shields up`: the parent, the state trees, the
#                                      protected files and the seal locked, then pinned. 0 up;
#                                      up but not pinned (Docker's default capabilities): a
#                                      warning and 0, or 1 with NC_HARDEN_STRICT=1; refused
#                                      (locked, not verified): 1.
#   nc_shields_down [PROFILE [DIR]]    `nc-harden shields down`: 0 when handed back, else 1.
#   nc_shields_status [PROFILE [DIR]]  read-only; 0 for up, up-not-pinned and down, 1 for
#                                      anything else (tampered, partly locked).
#   nc_shields_boot [PROFILE [DIR]]    the entrypoint's check: starts a shields-down sandbox
#                                      (NemoClaw's default) and an up one, refuses a tampered
#                                      one; NC_HARDEN_STRICT=1 also refuses up-not-pinned.
#
# PROFILE: openclaw (default, or NC_HARDEN_PROFILE), hermes, or a profile file's path. Every
# function sets NC_HARDEN_STATUS (0 up, 2 up not pinned, 4 down, 10 neither, ...) and is safe
# bare under `set -euo pipefail`.

# _nc_shields VERB [PROFILE [DIR]]: runs `nc-harden shields VERB`; its exit code in _nc_rc
# and NC_HARDEN_STATUS (never fails itself).
_nc_shields() {
    _nc_sverb="$1"
    _nc_sprofile="${2:-${NC_HARDEN_PROFILE:-openclaw}}"
    _nc_sdir="${3:-}"
    _nc_cmd="$(_nc_bin)"
    set -- shields "$_nc_sverb" --profile "$_nc_sprofile"
    [ -z "$_nc_sdir" ] || set -- "$@" --dir "$_nc_sdir"
    _nc_rc=0
    "$_nc_cmd" "$@" || _nc_rc=$?
    NC_HARDEN_STATUS=$_nc_rc
    if [ "$_nc_rc" -eq 126 ] || [ "$_nc_rc" -eq 127 ]; then
        echo "[SECURITY] nc-harden could not be run (${_nc_cmd}): install it in the image or set NC_HARDEN" >&2
    fi
    return 0
}

nc_shields_up() {
    _nc_shields up "$@"
    case "$_nc_rc" in
        0) return 0 ;;
        1 | 2 | 3)
            if [ "${NC_HARDEN_STRICT:-0}" = 1 ]; then
                echo "[SECURITY] shields up: $(_nc_status_name "$_nc_rc"): locked and sealed, not pinned; NC_HARDEN_STRICT=1 — ${_nc_die_hint}" >&2
                return 1
            fi
            echo "[SECURITY] WARNING: shields up: $(_nc_status_name "$_nc_rc"): locked and sealed, not pinned (holds against the sandbox user, not against root); NC_HARDEN_STRICT=1 makes this fatal" >&2
            return 0
            ;;
    esac
    echo "[SECURITY] shields up: $(_nc_status_name "$_nc_rc") — ${_nc_die_hint}" >&2
    return 1
}

nc_shields_down() {
    _nc_shields down "$@"
    [ "$_nc_rc" -eq 0 ] && return 0
    echo "[SECURITY] shields down: $(_nc_status_name "$_nc_rc")" >&2
    return 1
}

nc_shields_status() {
    _nc_shields status "$@"
    case "$_nc_rc" in
        0 | 2 | 4) return 0 ;;
    esac
    return 1
}

nc_shields_boot() {
    _nc_shields status "$@"
    case "$_nc_rc" in
        0 | 4) return 0 ;;
        2)
            if [ "${NC_HARDEN_STRICT:-0}" = 1 ]; then
                echo "[SECURITY] shields up but not pinned; NC_HARDEN_STRICT=1 — ${_nc_die_hint}" >&2
                return 1
            fi
            return 0
            ;;
    esac
    echo "[SECURITY] shields neither up nor down: $(_nc_status_name "$_nc_rc") — ${_nc_die_hint}" >&2
    return 1
}
