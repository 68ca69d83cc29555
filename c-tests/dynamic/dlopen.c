/* A launcher helper that loads nc-harden at run time: dlopen the shared object, resolve
 * every nc_* function of the header, then freeze, verify and unfreeze through them.
 * Usage: dlopen LIBRARY DIR DATA_DIR (a valid layout). */
#define _POSIX_C_SOURCE 200809L
#include "nc_harden.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef nc_status (*call_fn)(const char *, const char *, const nc_options *, nc_report **);
typedef nc_status (*status_fn)(const nc_report *);
typedef const char *(*summary_fn)(const nc_report *);
typedef void (*free_fn)(nc_report *);

static const char *const functions[] = {
    "nc_validate_and_freeze", "nc_verify", "nc_unfreeze", "nc_report_status",
    "nc_report_summary", "nc_report_layers", "nc_report_len", "nc_report_entry",
    "nc_report_json", "nc_report_free", "nc_string_free", "nc_status_name", "nc_version",
    "nc_report_layer", "nc_report_errno", "nc_report_entry_sha256", "nc_report_entry_renewed",
    "nc_report_posture", "nc_report_seal", "nc_last_bad_argument",
};

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define RESOLVE(type, name) ((type)(uintptr_t)dlsym(lib, name))

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LIBRARY DIR DATA_DIR\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        if (!dlsym(lib, functions[i])) {
            fprintf(stderr, "unresolved: %s\n", functions[i]);
            return 1;
        }
    }
    call_fn freeze = RESOLVE(call_fn, "nc_validate_and_freeze");
    call_fn verify = RESOLVE(call_fn, "nc_verify");
    call_fn unfreeze = RESOLVE(call_fn, "nc_unfreeze");
    status_fn report_status = RESOLVE(status_fn, "nc_report_status");
    summary_fn summary = RESOLVE(summary_fn, "nc_report_summary");
    free_fn report_free = RESOLVE(free_fn, "nc_report_free");

    nc_report *r = NULL;
    nc_status st = freeze(argv[2], argv[3], NULL, &r);
    printf("freeze: %s\n", summary(r));
    int ok = st == NC_OK && report_status(r) == NC_OK;
    report_free(r);
    ok = ok && verify(argv[2], argv[3], NULL, NULL) == NC_OK;
    ok = ok && unfreeze(argv[2], argv[3], NULL, NULL) == NC_OK;
    ok = ok && verify(argv[2], argv[3], NULL, NULL) == NC_NOT_FROZEN;
    dlclose(lib);
    if (!ok) {
        fprintf(stderr, "dlopen: unexpected status\n");
        return 1;
    }
    printf("dlopen: all checks passed\n");
    return 0;
}
