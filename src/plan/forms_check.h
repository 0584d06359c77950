/* The program-form rules (plan/forms.h) checked on a program: the simulator fails programs with
 * it, the planner verifies its lowered programs with it. */
#ifndef ANET_PLAN_FORMS_CHECK_H
#define ANET_PLAN_FORMS_CHECK_H

#include "core/fp16.h"
#include "graph/ir.h"
#include "plan/forms.h"

typedef struct anet_form_hit {
    int rule;                  /* anet_form_id, -1 when none */
    anet_form_failure failure; /* how the device is reported to fail for it */
    char detail[256];
} anet_form_hit;

/* The first rule of f that g breaks (1), or 0 when it breaks none. Rules checked here are the
 * ones a program's text decides; surface sizes, order and row layout are checked at eval. */
int anet_forms_check(const anet_graph *g, const anet_forms *f, anet_form_hit *h);

#endif
