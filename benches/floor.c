/* The floor of a freeze or a verify per link, as a whole process: what the least such a tool
 * must do for each link of DIR, one readlinkat(DIR, name) and one fstatat(DATA_DIR, name,
 * AT_SYMLINK_NOFOLLOW), after reading DIR with getdents64 into one fixed buffer. No report,
 * no rules, no allocation. Usage: floor DIR DATA_DIR (exit 0; prints nothing).
 * Built by scripts/compare-shell with `cc -O2 -static`. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int main(int argc, char **argv) {
    static char buf[32768];
    char target[PATH_MAX + 1];
    struct stat st;
    unsigned long links = 0;
    if (argc != 3)
        return 2;
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int data = open(argv[2], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0 || data < 0)
        return 1;
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0)
            return 1;
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_type != DT_LNK)
                continue;
            if (readlinkat(dir, d->d_name, target, sizeof target) < 0)
                return 1;
            (void)fstatat(data, d->d_name, &st, AT_SYMLINK_NOFOLLOW); /* a missing one is a finding, not an error */
            links++;
        }
    }
    return links == (unsigned long)-1;
}
