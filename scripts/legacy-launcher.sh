# The two shell functions the NemoClaw launcher used before nc-harden, kept only to be
# measured against it (scripts/compare-shell). Do not use them: `readlink -f` accepts
# chains, the glob skips dotfiles, and `chattr +i ... || true` fails silently on every link.
validate_openclaw_symlinks() {
    for link in "$OPENCLAW_DIR"/*; do
        [ -L "$link" ] || continue
        target=$(readlink -f "$link")
        [ "$target" = "$OPENCLAW_DATA_DIR/${link##*/}" ] || { echo "[SECURITY] bad link ${link##*/}" >&2; return 1; }
    done
}

harden_openclaw_symlinks() {
    for entry in "$OPENCLAW_DIR"/*; do
        chattr +i "$entry" 2>/dev/null || true
    done
    chattr +i "$OPENCLAW_DIR" 2>/dev/null || true
}
