/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the router <-> client decoders (common/proto*.c): every input goes to
 * the header check and to every unpack function. Whatever a decoder accepts must repack to the
 * same bytes (the encoding is canonical), so an accepting decoder that misreads a field is
 * caught as well as one that reads out of bounds. Also driven by fuzz_driver.c without
 * libFuzzer.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_cases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[MM_PROTO_MAX_FRAME];
	struct mm_proto_hdr h;

	(void)mm_proto_unpack_header(data, size, &h);
	for (size_t i = 0; i < PROTO_NCASES; i++) {
		ssize_t n = proto_cases[i].repack(data, size, out, sizeof(out));

		if (n == -EBADMSG)
			continue;
		if (n != (ssize_t)size || memcmp(out, data, size))
			abort(); /* accepted, but not a faithful decode */
	}
	return 0;
}
