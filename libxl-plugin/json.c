// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * JSON strings for the status files: a reason can carry the peer's words
 * (a STOP's text), which must stay one string of one document.
 */
#include <stdio.h>

#include "libxrepl-private.h"

void xrepl_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
