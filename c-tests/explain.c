/* The text of a bad argument, asked from a thread other than the caller's and after the
 * call (as Go's moving goroutines would): nc_explain_bad_argument gives what
 * nc_last_bad_argument gave on the calling thread, snprintf-like, and 0 for good arguments.
 * Usage: explain [DIR DATA_DIR] (a valid layout; without them, paths that do not exist). */
#include "nc_harden.h"
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ask {
    uint32_t op;
    const char *dir, *data;
    const nc_options *opts;
    char text[512];
    size_t len;
};

static void *explain_thread(void *p) {
    struct ask *a = (struct ask *)p;
    a->len = nc_explain_bad_argument(a->op, a->dir, a->data, a->opts, a->text, sizeof a->text);
    return NULL;
}

/* Asks on a thread of its own, then joins it. */
static size_t explain_elsewhere(struct ask *a) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, explain_thread, a) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    return a->len;
}

int main(int argc, char **argv) {
    const char *dir = argc == 3 ? argv[1] : "/nonexistent-nc-harden/dir";
    const char *data = argc == 3 ? argv[2] : "/nonexistent-nc-harden/data";
    nc_report *r = NULL;
    char here[512];

    /* A bad path: the same text on another thread, after the call. */
    CHECK(nc_validate_and_freeze("relative/dir", data, NULL, &r) == NC_BAD_ARGUMENT && r == NULL);
    snprintf(here, sizeof here, "%s", nc_last_bad_argument());
    CHECK(strlen(here) > 0);
    struct ask a;
    memset(&a, 0, sizeof a);
    a.op = NC_OPERATION_FREEZE;
    a.dir = "relative/dir";
    a.data = data;
    CHECK(explain_elsewhere(&a) == strlen(here));
    CHECK(strcmp(a.text, here) == 0);

    /* Bad options, for nc_verify. */
    nc_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.flags = 1u << 30;
    CHECK(nc_verify(dir, data, &o, &r) == NC_BAD_ARGUMENT && r == NULL);
    snprintf(here, sizeof here, "%s", nc_last_bad_argument());
    struct ask b;
    memset(&b, 0, sizeof b);
    b.op = NC_OPERATION_VERIFY;
    b.dir = dir;
    b.data = data;
    b.opts = &o;
    CHECK(explain_elsewhere(&b) == strlen(here));
    CHECK(strcmp(b.text, here) == 0);

    /* snprintf's contract: the whole length with no buffer, a truncated text with a NUL. */
    size_t n = nc_explain_bad_argument(NC_OPERATION_VERIFY, dir, data, &o, NULL, 0);
    CHECK(n == strlen(here));
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(nc_explain_bad_argument(NC_OPERATION_VERIFY, dir, data, &o, small, sizeof small) == n);
    CHECK(small[sizeof small - 1] == '\0' && strncmp(small, here, sizeof small - 1) == 0);

    /* Good arguments: 0 and "", and nothing changed (the call is not made). */
    memset(small, 'x', sizeof small);
    CHECK(nc_explain_bad_argument(NC_OPERATION_FREEZE, dir, data, NULL, small, sizeof small) == 0);
    CHECK(small[0] == '\0');
    CHECK(nc_explain_bad_argument(NC_OPERATION_UNFREEZE, dir, NULL, NULL, NULL, 0) == 0);

    /* An op that is no nc_operation is a bad argument of its own. */
    CHECK(nc_explain_bad_argument(99, dir, data, NULL, NULL, 0) > 0);

    /* The shields calls: the same, with their own arguments. */
    nc_shields_report *sr = NULL;
    const uint32_t both = NC_SHIELDS_TOP_CONFIG | NC_SHIELDS_STATE_TREES;
    CHECK(nc_shields_up("openclaw", NULL, both, &sr) == NC_BAD_ARGUMENT && sr == NULL);
    snprintf(here, sizeof here, "%s", nc_last_bad_argument());
    CHECK(strlen(here) > 0);
    char there[512];
    CHECK(nc_shields_explain_bad_argument(NC_SHIELDS_VERB_UP, "openclaw", NULL, both, there, sizeof there) == strlen(here));
    CHECK(strcmp(there, here) == 0);
    CHECK(nc_shields_status(NULL, NULL, 0, &sr) == NC_BAD_ARGUMENT && sr == NULL);
    snprintf(here, sizeof here, "%s", nc_last_bad_argument());
    CHECK(nc_shields_explain_bad_argument(NC_SHIELDS_VERB_STATUS, NULL, NULL, 0, there, sizeof there) == strlen(here));
    CHECK(strcmp(there, here) == 0);
    CHECK(nc_shields_explain_bad_argument(0, "openclaw", NULL, 0, NULL, 0) > 0);
    return finish("explain");
}
