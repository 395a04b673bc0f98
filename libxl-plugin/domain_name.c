// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guest's name as the backup takes it from the primary's CONFIG: it
 * becomes part of file names under /run/xrepl, of status JSON and of log
 * lines, so only names that are safe in all three are taken.
 */
#include <errno.h>
#include <string.h>

#include "libxrepl-private.h"

#define NAME_MAX_LEN 64

int domain_name_check(const char *name, const char **why)
{
	size_t i, n = strlen(name);

	if (!n || n > NAME_MAX_LEN) {
		*why = "empty or longer than 64 characters";
		return -EINVAL;
	}
	if (name[0] == '.' || name[0] == '-') {
		*why = "it starts with '.' or '-'";
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
			    name[i])) {
			*why = "only letters, digits and . _ + - are taken";
			return -EINVAL;
		}
	return 0;
}
