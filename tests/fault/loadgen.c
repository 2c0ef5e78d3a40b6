/* SPDX-License-Identifier: MIT */
/* mm-loadgen: `pub` (the load) or `check` (the checker); see loadgen.h. */
#include "loadgen.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "pub"))
		return lg_pub_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return lg_check_main(argc - 1, argv + 1);
	fprintf(stderr, "usage: mm-loadgen pub|check OPTIONS (see tests/fault/loadgen.h)\n");
	return 64;
}
