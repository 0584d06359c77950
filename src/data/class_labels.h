/* Class names of the known datasets, for exported classifiers and `predict`. */
#ifndef ANET_DATA_CLASS_LABELS_H
#define ANET_DATA_CLASS_LABELS_H

/* The label of class k of dataset `name` ("mnist", "fashion-mnist", "kmnist"); for another
 * dataset, a class beyond the list or name NULL: the class index as text, written to buf. */
const char *anet_class_label(const char *name, int k, char *buf, int len);

#endif
