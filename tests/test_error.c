#include "core/error.h"
#include "check.h"

int main(void) {
    CHECK(anet_last_error()[0] == '\0');
    CHECK_EQ_INT(anet_fail(ANET_E_FORMAT, "bad magic %d", 7), ANET_E_FORMAT);
    CHECK(strcmp(anet_last_error(), "bad magic 7") == 0);
    anet_fail_ctx(ANET_E_FORMAT, "reading %s", "x.idx");
    CHECK(strcmp(anet_last_error(), "reading x.idx: bad magic 7") == 0);
    /* Context a message already starts with is not repeated (issue 16 item 13). */
    anet_fail(ANET_E_FORMAT, "checkpoint a.st: parameter b0 is missing");
    anet_fail_ctx(ANET_E_FORMAT, "checkpoint %s", "a.st");
    CHECK_MSG(strcmp(anet_last_error(), "checkpoint a.st: parameter b0 is missing") == 0, "got: %s", anet_last_error());
    anet_fail(ANET_E_FORMAT, "checkpoint a.st has no model");
    anet_fail_ctx(ANET_E_FORMAT, "checkpoint %s", "a.st");
    CHECK_MSG(strcmp(anet_last_error(), "checkpoint a.st has no model") == 0, "got: %s", anet_last_error());
    anet_fail_ctx(ANET_E_FORMAT, "checkpoint %s", "a.s"); /* a longer name is other context */
    CHECK_MSG(strcmp(anet_last_error(), "checkpoint a.s: checkpoint a.st has no model") == 0, "got: %s", anet_last_error());
    anet_clear_error();
    CHECK(anet_last_error()[0] == '\0');
    CHECK(strcmp(anet_status_str(ANET_E_IO), "I/O error") == 0);
    CHECK(strlen(anet_version()) >= 5);
    TEST_MAIN_END();
}
