/* SPDX-License-Identifier: MIT */
/* mm-scenario: scenarios not written yet (skipped). */
#include "sc.h"

#define TODO(fn)                                        \
	int fn(struct sc_env *e)                        \
	{                                               \
		sc_note(e, "not written yet: skipped"); \
		return SC_SKIP;                         \
	}

TODO(sc_kill_client)
TODO(sc_kill_daemon)
TODO(sc_broker_restarts)
TODO(sc_proxy_cuts)
TODO(sc_reconnect_storm)
TODO(sc_signal_storm)
TODO(sc_disk_full)
TODO(sc_soak)
