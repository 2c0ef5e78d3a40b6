/* SPDX-License-Identifier: MIT */
/* libmqttmux internal: the metrics text parser (client_metrics.c). */
#ifndef MM_CLIENT_METRICS_H
#define MM_CLIENT_METRICS_H

#include "mqttmux.h"

int mm_cl_metrics_parse(char *text, struct mqttmux_metrics **ret);

#endif /* MM_CLIENT_METRICS_H */
