/* SPDX-License-Identifier: MIT */
#include "usage.h"

#include <stdio.h>

#include "mqttmux_version.h"

int mm_usage_help_version(bool help, const char *prog, const char *usage)
{
	if (help)
		fputs(usage, stdout);
	else
		printf("%s %s\n", prog, MQTTMUX_VERSION);
	return fflush(stdout) == 0 ? 0 : 1;
}
