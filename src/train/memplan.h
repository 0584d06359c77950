/* The memory a training plan takes, estimated from the model and batch before anything is
 * allocated, and checked against a budget (--max-memory; default half of physical memory), so
 * a model that would exhaust the machine fails at once with one clear line. */
#ifndef ANET_TRAIN_MEMPLAN_H
#define ANET_TRAIN_MEMPLAN_H

#include <stdint.h>

#include "ane_trainer.h"
#include "train/model.h"
#include "train/step.h"

/* Bytes a trainer of model m with this batch and update mode holds at its peak: a fixed base,
 * bytes per parameter and bytes per activation (batch x the sum of the layer widths). The
 * constants are measured on vane (docs/limits.md) and rounded up. */
uint64_t anet_memplan_train_bytes(const anet_model_spec *m, int batch, anet_update_mode update);

/* Half of the physical memory (0 when unknown: no limit). */
uint64_t anet_memplan_default_budget(void);

/* ANET_E_NOMEM naming the estimate and the budget when the plan needs more than `budget`
 * bytes (0: the default budget). */
anet_status anet_memplan_check(const anet_model_spec *m, int batch, anet_update_mode update, uint64_t budget);

/* "12.3 MB", "4.0 GB": sizes in messages. */
void anet_memplan_human(uint64_t bytes, char *buf, unsigned len);

#endif
