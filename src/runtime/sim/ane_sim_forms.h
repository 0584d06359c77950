/* The program-form quirks (plan/forms.h) as the simulator checks them on a parsed program. */
#ifndef ANET_RUNTIME_SIM_ANE_SIM_FORMS_H
#define ANET_RUNTIME_SIM_ANE_SIM_FORMS_H

#include "core/fp16.h"
#include "graph/ir.h"
#include "plan/forms.h"

typedef struct anet_sim_form_hit {
    int rule;                  /* anet_form_id, -1 when none */
    anet_form_failure failure; /* how the device is reported to fail for it */
    char detail[256];
} anet_sim_form_hit;

/* The first rule of f that g breaks (1), or 0 when it breaks none. Rules checked here are the
 * ones a program's text decides; surface sizes, order and row layout are checked at eval. */
int anet_sim_forms_check(const anet_graph *g, const anet_forms *f, anet_sim_form_hit *h);

#endif
