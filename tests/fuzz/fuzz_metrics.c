/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the metrics text parser of the client library (shm/client/
 * client_metrics.c), which reads what comes over the control socket. Any text must parse or
 * be refused (-EPROTO) without a crash, a leak or a read past its end; what parses must be
 * freeable.
 */
#include <stdlib.h>
#include <string.h>

#include "client_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqttmux_metrics *m = NULL;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mm_cl_metrics_parse(text, &m) == 0) {
		for (size_t i = 0; i < m->n_sessions; i++)
			if (!m->sessions[i].name)
				abort();
		mqttmux_metrics_free(m);
	}
	free(text);
	return 0;
}
