// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl version: this build, and the hypervisor when run in dom0. */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"

int version_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	struct xrepl_xen_version ver;

	if (argc > 1) {
		if (strcmp(argv[1], "-h") && strcmp(argv[1], "--help")) {
			fprintf(stderr, "Usage: %s %s\n", prog_name, argv[0]);
			return 1;
		}
		printf("Usage: %s %s\n\nShow the xrepl version and, in a Xen control domain, the hypervisor's.\n",
		       prog_name, argv[0]);
		return 0;
	}
	printf("xrepl %s\n", xrepl_version());
	if (xrepl_xen_version(ctx, &ver) < 0)
		return 1;
	printf("xen %u.%u%s\n", ver.major, ver.minor, ver.extra);
	return 0;
}
