/* A tiny test harness: CHECK* record failures with file:line and go on; TEST_MAIN_END prints
 * "N passed, N failed" and returns non-zero when anything failed (so ctest sees it). */
#ifndef ANET_TESTS_CHECK_H
#define ANET_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) check_passed++;                                                     \
        else { check_failed++; fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (cond) check_passed++;                                                     \
        else { check_failed++; fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
               fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); }                   \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                            \
    do {                                                                              \
        long long va_ = (long long)(a), vb_ = (long long)(b);                         \
        CHECK_MSG(va_ == vb_, "%s = %lld, %s = %lld", #a, va_, #b, vb_);              \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                               \
    do {                                                                              \
        const char *h_ = (hay), *n_ = (needle);                                       \
        CHECK_MSG(h_ && strstr(h_, n_), "\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
    do {                                                                              \
        double va_ = (double)(a), vb_ = (double)(b);                                  \
        CHECK_MSG(fabs(va_ - vb_) <= (tol), "%s = %.9g, %s = %.9g, tol %.3g", #a, va_, #b, vb_, (double)(tol)); \
    } while (0)

#define TEST_MAIN_END()                                                               \
    do {                                                                              \
        printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed);   \
        return check_failed ? 1 : 0;                                                  \
    } while (0)

#endif
