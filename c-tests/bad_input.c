/* Bad input through the C ABI: every call answers NC_BAD_ARGUMENT (or the documented
 * status), writes *out, and changes nothing. Usage: bad_input DIR DATA_DIR (a valid layout). */
#include "nc_harden.h"
#include "check.h"

#include <stddef.h>

#include <stdio.h>
#include <string.h>


/* A caller built against a later, larger nc_options. */
typedef struct {
    nc_options v1;
    uint64_t later_field;
} nc_options_v2;

static nc_status freeze_out(const char *dir, const char *data, const nc_options *opts, nc_report **out) {
    *out = (nc_report *)(void *)out; /* garbage that must be overwritten */
    return nc_validate_and_freeze(dir, data, opts, out);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR DATA_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *data = argv[2];
    nc_report *r;

    CHECK(freeze_out(NULL, data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    /* NULL data_dir: a flat layout (version 0.2), where the links are rejected. */
    CHECK(freeze_out(dir, NULL, NULL, &r) == NC_INVALID && r != NULL);
    nc_report_free(r);
    CHECK(freeze_out("", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out("relative/dir", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out("/tmp/../etc", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out("/tmp//x", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out("/tmp/x/", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out(dir, dir, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(freeze_out("/", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    CHECK(nc_verify(NULL, NULL, NULL, NULL) == NC_BAD_ARGUMENT);
    CHECK(nc_unfreeze(NULL, data, NULL, NULL) == NC_BAD_ARGUMENT);

    nc_options opts;
    memset(&opts, 0, sizeof opts);
    opts.size = offsetof(nc_options, seal) - 1; /* smaller than the first version */
    CHECK(freeze_out(dir, data, &opts, &r) == NC_BAD_ARGUMENT && r == NULL);
    opts.size = 0;
    CHECK(freeze_out(dir, data, &opts, &r) == NC_BAD_ARGUMENT && r == NULL);
    opts.size = sizeof opts;
    opts.flags = 0x80000000u; /* a bit this version does not know */
    CHECK(freeze_out(dir, data, &opts, &r) == NC_BAD_ARGUMENT && r == NULL);
    opts.flags = 0;
    opts.strategy = 7;
    CHECK(freeze_out(dir, data, &opts, &r) == NC_BAD_ARGUMENT && r == NULL);
    opts.strategy = NC_STRATEGY_AUTO;
    const char *bad_required[] = {"a/b", NULL};
    opts.required = bad_required;
    CHECK(freeze_out(dir, data, &opts, &r) == NC_BAD_ARGUMENT && r == NULL);
    opts.required = NULL;

    nc_options_v2 v2;
    memset(&v2, 0, sizeof v2);
    v2.v1.size = sizeof v2;
    v2.later_field = 1;
    CHECK(freeze_out(dir, data, &v2.v1, &r) == NC_BAD_ARGUMENT && r == NULL);
    /* Larger with zeroes is accepted: a real verify runs (the layout is not frozen). */
    v2.later_field = 0;
    CHECK(nc_verify(dir, data, &v2.v1, &r) == NC_NOT_FROZEN && r != NULL);
    nc_report_free(r);

    /* Every size from 0 to sizeof + 16: a size that ends inside a field (half a pointer) is
     * a bad argument and never read; the end of a field is accepted and reads exactly the
     * fields before it; larger with zeroes is accepted. The seal field names a file that
     * does not exist: where it is read, verify says NC_INVALID (seal_missing). */
    {
        size_t ends[] = {
            offsetof(nc_options, required) + sizeof opts.required,
            offsetof(nc_options, seal) + sizeof opts.seal,
            offsetof(nc_options, hand_to_uid) + sizeof opts.hand_to_uid,
            offsetof(nc_options, hand_to_gid) + sizeof opts.hand_to_gid,
            offsetof(nc_options, dir_mode) + sizeof opts.dir_mode,
            offsetof(nc_options, file_mode) + sizeof opts.file_mode,
        };
        size_t seal_end = ends[1];
        union {
            nc_options opts;
            unsigned char bytes[sizeof(nc_options) + 16];
        } buf;
        for (size_t size = 0; size <= sizeof(nc_options) + 16; size++) {
            memset(&buf, 0, sizeof buf);
            buf.opts.size = (uint32_t)size;
            buf.opts.seal = "no-such-seal";
            int accepted = size >= sizeof(nc_options);
            for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
                accepted |= size == ends[i];
            nc_status want = !accepted ? NC_BAD_ARGUMENT
                             : size >= seal_end ? NC_INVALID
                                                : NC_NOT_FROZEN;
            nc_status got = nc_verify(dir, data, &buf.opts, &r);
            if (got != want)
                fprintf(stderr, "opts->size %zu: %s, expected %s\n", size, nc_status_name(got),
                        nc_status_name(want));
            CHECK(got == want);
            CHECK((r == NULL) == (want == NC_BAD_ARGUMENT));
            nc_report_free(r);
            if (!accepted) {
                /* The same size given to freeze changes nothing. */
                CHECK(freeze_out(dir, data, &buf.opts, &r) == NC_BAD_ARGUMENT && r == NULL);
                CHECK(nc_verify(dir, data, NULL, NULL) == NC_NOT_FROZEN);
            }
        }
    }

    /* NULL reports and strings are fine everywhere. */
    CHECK(nc_report_status(NULL) == NC_BAD_ARGUMENT);
    CHECK(strcmp(nc_report_summary(NULL), "") == 0);
    CHECK(nc_report_len(NULL) == 0);
    CHECK(nc_report_layers(NULL) == 0);
    nc_entry e;
    CHECK(!nc_report_entry(NULL, 0, &e));
    CHECK(nc_report_json(NULL) == NULL);
    nc_report_free(NULL);
    nc_string_free(NULL);
    CHECK(strcmp(nc_status_name(9999), "NC_UNKNOWN") == 0);

    return finish("bad_input");
}
