# Sourced by scripts/compare-guards and scripts/scale-shields, inside their private mount
# namespace, with $work a scratch directory: a tmpfs on /run, a scratch /etc/passwd and
# /etc/group holding `sandbox` (uid 998) and `gateway` bind-mounted over the machine's, and
# the two functions that build variant H at its real path /sandbox/.openclaw.
mount -t tmpfs -o mode=0755 tmpfs /run
grep -v '^\(sandbox\|gateway\):' /etc/passwd > "$work/passwd"
grep -v '^\(sandbox\|gateway\):' /etc/group > "$work/group"
echo 'sandbox:x:998:998::/sandbox:/bin/sh' >> "$work/passwd"
echo 'gateway:x:997:997::/nonexistent:/bin/sh' >> "$work/passwd"
printf 'sandbox:x:998:gateway\ngateway:x:997:\n' >> "$work/group"
mount --bind "$work/passwd" /etc/passwd
mount --bind "$work/group" /etc/group
mkdir -p /sandbox
sandbox_fs() {   # $1: tmpfs or ext4
    umount -R /sandbox 2>/dev/null || true
    rm -rf /run/nc-harden   # the records of the /sandbox gone with it
    if [ "$1" = ext4 ]; then
        rm -f "$work/ext4.img"; truncate -s 1G "$work/ext4.img"
        # Inodes for 100,000 entries and more; the inode tables and the journal written now,
        # not by ext4lazyinit in the background while the first commands are timed.
        mkfs.ext4 -q -F -N 262144 -E lazy_itable_init=0,lazy_journal_init=0 "$work/ext4.img"
        mount -o loop "$work/ext4.img" /sandbox
    else
        mount -t tmpfs -o mode=0755 tmpfs /sandbox
    fi
    rm -rf /sandbox/lost+found
    chown 998:998 /sandbox; chmod 0755 /sandbox
}
# Variant H: the state directories, the state files, the two protected files; FILES_IN
# regular files spread over workspace/dNNN (100 a directory).
variant_h() {   # $1: files in workspace
    local d=/sandbox/.openclaw
    mkdir -p $d/agents/main/agent $d/agents/main/sessions
    for s in extensions workspace skills hooks identity devices canvas cron memory logs \
        credentials flows sandbox telegram plugin-runtime-deps; do mkdir -p "$d/$s"; done
    echo '{}' > $d/update-check.json; echo '{}' > $d/exec-approvals.json
    printf '{"gateway":{"auth":{"token":"%s"}}}\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > $d/openclaw.json
    sha256sum $d/openclaw.json > $d/.config-hash
    echo 'skill' > $d/skills/SKILL.md; echo 'secret' > $d/credentials/token.json
    echo 'agent' > $d/agents/main/agent/auth-profiles.json
    python3 - "$d/workspace" "$1" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(root, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.mkdir(sub)
    with open(os.path.join(sub, "f%05d.md" % i), "w") as f:
        f.write("note %d\n" % i)
PY
    chown -R 998:998 $d
    find $d -type d -exec chmod 2770 {} +
    find $d -type f -exec chmod 0660 {} +
}
