// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl genkey FILE: a new pre-shared key, mode 0600, never overwritten. */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"

int genkey_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	uint8_t key[XREPL_KEY_LEN];
	int r;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s genkey FILE\n\n"
		       "Write a new random pre-shared key to FILE (created with mode 0600;\n"
		       "an existing file is never overwritten). Copy it to the backup host\n"
		       "and give both sides --key FILE.\n",
		       prog_name);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: %s genkey FILE\n", prog_name);
		return 1;
	}
	r = xrepl_key_generate(key);
	if (!r)
		r = xrepl_key_save(ctx, argv[1], key);
	memset(key, 0, sizeof(key));
	return r < 0;
}
