#include "core/error.h"
#include "check.h"

int main(void) {
    CHECK(anet_last_error()[0] == '\0');
    CHECK_EQ_INT(anet_fail(ANET_E_FORMAT, "bad magic %d", 7), ANET_E_FORMAT);
    CHECK(strcmp(anet_last_error(), "bad magic 7") == 0);
    anet_fail_ctx(ANET_E_FORMAT, "reading %s", "x.idx");
    CHECK(strcmp(anet_last_error(), "reading x.idx: bad magic 7") == 0);
    anet_clear_error();
    CHECK(anet_last_error()[0] == '\0');
    CHECK(strcmp(anet_status_str(ANET_E_IO), "I/O error") == 0);
    CHECK(strlen(anet_version()) >= 5);
    TEST_MAIN_END();
}
