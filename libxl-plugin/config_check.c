// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the backup takes from the primary's CONFIG, checked before any of
 * it is used: the guest's name becomes part of file names under
 * /run/xrepl, of status JSON and of log lines; a replica is a file the
 * backup writes; a device's script is a program libxl runs as root. An
 * authenticated primary is still not the backup's administrator.
 */
#include <errno.h>
#include <string.h>

#include "libxrepl-private.h"

#define NAME_MAX_LEN 64
#define XEN_SCRIPTS "/etc/xen/scripts/"

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

/* a "." or ".." component anywhere in PATH */
static int climbs(const char *path)
{
	const char *p = path;
	size_t n;

	for (; *p; p += n) {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
	}
	return 0;
}

int replica_path_check(const char *path, const char *dir, const char **why)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (path[0] != '/' || strncmp(path, dir, n) || path[n] != '/' ||
	    !path[n + 1] || path[strlen(path) - 1] == '/') {
		*why = "it is not a file in the replica directory (--replica-dir; or name it with --disk-map)";
		return -EPERM;
	}
	if (climbs(path)) {
		*why = "it has a . or .. component";
		return -EPERM;
	}
	return 0;
}

int device_script_check(const char *script, const char **why)
{
	if (!script)
		return 0;
	if (climbs(script) ||
	    (strchr(script, '/') &&
	     strncmp(script, XEN_SCRIPTS, strlen(XEN_SCRIPTS)))) {
		*why = "a device's script must be in " XEN_SCRIPTS;
		return -EPERM;
	}
	return 0;
}
