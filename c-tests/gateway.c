/* The C gateway's use of nc-harden, linked statically: validate and freeze at start, check
 * that an attacker's change now fails, nc_verify before use, the JSON report to a log,
 * unfreeze for maintenance, every _free. Usage: gateway DIR DATA_DIR (a valid layout). */
#define _POSIX_C_SOURCE 200809L
#include "nc_harden.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


static void path_join(char *out, size_t len, const char *dir, const char *name) {
    snprintf(out, len, "%s/%s", dir, name);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR DATA_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *data = argv[2];
    const char *required[] = {"openclaw.json", ".config-hash", NULL};
    nc_options opts;
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.strategy = NC_STRATEGY_AUTO;
    opts.required = required;

    nc_report *report = (nc_report *)&opts; /* must be overwritten */
    nc_status st = nc_validate_and_freeze(dir, data, &opts, &report);
    CHECK(st == NC_OK);
    CHECK(report != NULL);
    CHECK(nc_report_status(report) == st);
    CHECK(strstr(nc_report_summary(report), "NC_OK") != NULL);
    CHECK(nc_report_layers(report) & NC_LAYER_IMMUTABLE);
    size_t n = nc_report_len(report);
    CHECK(n > 20);
    size_t links = 0;
    for (size_t i = 0; i < n; i++) {
        nc_entry e;
        CHECK(nc_report_entry(report, i, &e));
        CHECK(e.name != NULL && strlen(e.name) == e.name_len);
        CHECK(e.reason == NC_REASON_NONE);
        if (e.kind == NC_ENTRY_KIND_SYMLINK) {
            links++;
            CHECK(e.action == NC_ACTION_PINNED_BY_DIRECTORY || e.action == NC_ACTION_FROZEN);
        } else {
            CHECK(e.action == NC_ACTION_FROZEN);
        }
    }
    CHECK(links == 19);
    nc_entry sentinel;
    memset(&sentinel, 0xAB, sizeof sentinel);
    CHECK(!nc_report_entry(report, n, &sentinel));
    CHECK(((unsigned char *)&sentinel)[0] == 0xAB);
    char *json = nc_report_json(report);
    CHECK(json != NULL && strstr(json, "\"status\":\"NC_OK\"") != NULL);
    if (json)
        printf("gateway: report %s\n", json); /* the gateway's log */
    nc_string_free(json);
    nc_report_free(report);

    /* The freeze holds even against root: no new entry, no removal. */
    char path[4096];
    path_join(path, sizeof path, dir, "injected");
    CHECK(symlink("/etc", path) == -1 && errno == EPERM);
    path_join(path, sizeof path, dir, "hooks");
    CHECK(unlink(path) == -1 && errno == EPERM);

    /* Before use: verify, no report wanted. */
    CHECK(nc_verify(dir, data, &opts, NULL) == NC_OK);

    st = nc_unfreeze(dir, data, NULL, &report);
    CHECK(st == NC_OK && report != NULL);
    nc_report_free(report);
    CHECK(nc_verify(dir, data, NULL, NULL) == NC_NOT_FROZEN);
    path_join(path, sizeof path, dir, "injected");
    CHECK(symlink("/etc", path) == 0 && unlink(path) == 0);

    CHECK(strcmp(nc_status_name(NC_INVALID), "NC_INVALID") == 0);
    CHECK(strlen(nc_version()) > 0);
    return finish("gateway");
}
