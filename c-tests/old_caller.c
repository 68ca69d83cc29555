/* A caller built against version 0.1 of the header: its nc_options ends at `required`, and
 * its size says so. Version 0.2 must take it as it is (the extensible-struct rule), giving
 * the fields it lacks their defaults: no seal, no posture change, nothing handed back.
 * Also: the text of a bad argument, which has no report, reaches C. Usage: old_caller DIR
 * DATA_DIR (a valid layout). */
#define _POSIX_C_SOURCE 200809L
#include "nc_harden.h"
#include "check.h"

#include <stdint.h>
#include <string.h>

/* nc_options as the 0.1 header declared it. */
typedef struct nc_options_v01 {
    uint32_t size;
    uint32_t flags;
    uint32_t owner_uid;
    uint32_t strategy;
    const char *const *required;
} nc_options_v01;

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR DATA_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *data = argv[2];
    const char *required[] = {"openclaw.json", NULL};
    nc_options_v01 old;
    memset(&old, 0, sizeof old);
    old.size = sizeof old;
    old.required = required;
    CHECK(sizeof old < sizeof(nc_options));

    nc_report *r = NULL;
    nc_status st = nc_validate_and_freeze(dir, data, (const nc_options *)&old, &r);
    CHECK(st == NC_OK);
    CHECK(r != NULL);
    CHECK(nc_report_seal(r) == 0);
    CHECK(nc_report_posture(r) == NC_POSTURE_UNKNOWN);
    CHECK(nc_report_errno(r) == 0);
    nc_report_free(r);
    CHECK(nc_verify(dir, data, (const nc_options *)&old, NULL) == NC_OK);
    CHECK(nc_unfreeze(dir, data, (const nc_options *)&old, NULL) == NC_OK);

    /* One byte short of the first version: a bad argument, no report, and its text. */
    old.size = sizeof old - 1;
    r = (nc_report *)&old;
    CHECK(nc_verify(dir, data, (const nc_options *)&old, &r) == NC_BAD_ARGUMENT);
    CHECK(r == NULL);
    CHECK(strstr(nc_last_bad_argument(), "smaller than the first version") != NULL);
    /* An unknown flag bit, through the current struct. */
    nc_options opts;
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.flags = 1u << 30;
    CHECK(nc_verify(dir, data, &opts, NULL) == NC_BAD_ARGUMENT);
    CHECK(strstr(nc_last_bad_argument(), "flags") != NULL);
    return finish("old_caller");
}
