/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding and checking (utf8.h). */
#include "utf8.h"

size_t mm_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] < 0x80		    ? 1
		     : s[0] >= 0xc2 && s[0] < 0xe0  ? 2
		     : (s[0] & 0xf0) == 0xe0	    ? 3
		     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						    : 0;
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };

	if (len == 0 || len > n)
		return 0;
	*cp = len == 1 ? s[0] : s[0] & (0x7fu >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[k] & 0x3fu);
	}
	return *cp < min[len] || *cp > 0x10ffff ? 0 : len;
}

bool mm_utf8_ok(const uint8_t *s, size_t len, bool strict)
{
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n) {
		n = mm_utf8_seq(s + i, len - i, &cp);
		if (n == 0 || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		if (strict && (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) ||
			       (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe))
			return false;
	}
	return true;
}
