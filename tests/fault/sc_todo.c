/* SPDX-License-Identifier: MIT */
/* mm-scenario: scenarios not written yet (skipped). */
#include "sc.h"

#define TODO(fn)                                        \
	int fn(struct sc_env *e)                        \
	{                                               \
		sc_note(e, "not written yet: skipped"); \
		return SC_SKIP;                         \
	}

TODO(sc_soak)
