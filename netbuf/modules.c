// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which kernel modules a failed netlink request needed. The kernel loads
 * ifb, sch_*, cls_* and act_* on demand and answers ENOENT or EOPNOTSUPP
 * when it cannot, which says nothing about which one was missing.
 */
#include <netlink/errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "netbuf-private.h"

static int builtin(const char *module)
{
	char path[256], line[512], want[128];
	struct utsname u;
	FILE *f;
	int found = 0;

	if (uname(&u) < 0)
		return 0;
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin",
		 u.release);
	f = fopen(path, "re");
	if (!f)
		return 0;
	snprintf(want, sizeof(want), "/%s.ko\n", module);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line), w = strlen(want);

		found = n >= w && !strcmp(line + n - w, want);
	}
	fclose(f);
	return found;
}

static int loaded(const char *module)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s", module);
	return !access(path, F_OK) || builtin(module);
}

const char *module_hint(int nlerr, const char *const *modules, char *buf,
			size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (nlerr != -NLE_OBJ_NOTFOUND && nlerr != -NLE_OPNOTSUPP)
		return buf;
	for (; *modules; modules++) {
		if (loaded(*modules))
			continue;
		n += (size_t)snprintf(
			buf + n, len - n, "%s%s",
			n ? ", " : " (kernel module not loaded: ", *modules);
		if (n >= len)
			return buf;
	}
	if (n)
		snprintf(buf + n, len - n, "; modprobe it)");
	return buf;
}
