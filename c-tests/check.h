/* The one assertion of the C test programs: counts a failure, says where, goes on. */
#ifndef NC_HARDEN_CHECK_H
#define NC_HARDEN_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* The exit status of a test program: 0 when every check passed. */
static int finish(const char *program) {
    if (failures) {
        fprintf(stderr, "%s: %d checks failed\n", program, failures);
        return 1;
    }
    printf("%s: all checks passed\n", program);
    return 0;
}

#endif
