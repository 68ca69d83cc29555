# nc-harden for shell launchers: drop-in replacements for the two functions the NemoClaw
# launcher uses today. Source this file, then call them as before:
#
#     . /usr/share/nc-harden/launcher.sh
#     validate_openclaw_symlinks || exit 1
#     harden_openclaw_symlinks  || exit 1
#
# The old validate_openclaw_symlinks resolved each link with `readlink -f` (accepting
# chains, never seeing dotfiles or regular files) and harden_openclaw_symlinks ran
# `chattr +i ... || true` (refused on every symlink, and on the directory wherever
# CAP_LINUX_IMMUTABLE is missing, silently). These call nc-harden, which checks every entry
# byte for byte and pins the directory in the same step, and say loudly what it could not do.
#
# Settings (environment):
#   OPENCLAW_DIR        the directory to pin            (default /sandbox/.openclaw)
#   OPENCLAW_DATA_DIR   where its links must point      (default /sandbox/.openclaw-data)
#   OPENCLAW_REQUIRED   names that must exist           (default "openclaw.json")
#   NC_HARDEN           the nc-harden command           (default nc-harden)
#   NC_HARDEN_STRICT=1  fail when nothing could be pinned, instead of warning and going on

: "${OPENCLAW_DIR:=/sandbox/.openclaw}"
: "${OPENCLAW_DATA_DIR:=/sandbox/.openclaw-data}"
: "${OPENCLAW_REQUIRED:=openclaw.json}"
: "${NC_HARDEN:=nc-harden}"

_nc_harden_require_args() {
    _nc_args=""
    for _nc_name in $OPENCLAW_REQUIRED; do
        _nc_args="$_nc_args --require $_nc_name"
    done
    printf '%s' "$_nc_args"
}

# Read-only: returns 0 when the directory is valid (frozen or not yet), else nc-harden's
# status (10 invalid, 11 unsafe path, 12 not found, ...). Reasons go to stderr.
validate_openclaw_symlinks() {
    # shellcheck disable=SC2046 # word splitting of the --require list is intended
    "$NC_HARDEN" verify --dir "$OPENCLAW_DIR" --data-dir "$OPENCLAW_DATA_DIR" $(_nc_harden_require_args)
    _nc_rc=$?
    [ "$_nc_rc" -eq 0 ] || [ "$_nc_rc" -eq 4 ] && return 0
    return "$_nc_rc"
}

# Validate and pin in one step (no window between them). A degraded pin (no capability, no
# flag support, partial) is reported on stderr and tolerated unless NC_HARDEN_STRICT=1.
harden_openclaw_symlinks() {
    if [ "${NC_HARDEN_STRICT:-0}" = 1 ]; then
        set -- ""
    else
        set -- --allow-degraded
    fi
    # shellcheck disable=SC2046
    "$NC_HARDEN" freeze --dir "$OPENCLAW_DIR" --data-dir "$OPENCLAW_DATA_DIR" $(_nc_harden_require_args) $1
}
