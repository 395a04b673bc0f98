// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_dir.h"
#include "subcommands.h"

const char *run_dir(void)
{
	const char *dir = getenv("XREPL_RUN_DIR");

	return dir ? dir : "/run/xrepl";
}

void run_path(char *buf, size_t len, const char *domain, const char *role,
	      const char *ext)
{
	snprintf(buf, len, "%s/%s.%s.%s", run_dir(), domain, role, ext);
}

int pid_file_write(const char *domain, const char *role)
{
	char path[4096];
	FILE *f;

	mkdir(run_dir(), 0755);
	run_path(path, sizeof(path), domain, role, "pid");
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog_name, path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	return 0;
}

void pid_file_remove(const char *domain, const char *role)
{
	char path[4096];

	run_path(path, sizeof(path), domain, role, "pid");
	unlink(path);
}

pid_t pid_file_read(const char *domain, const char *role)
{
	char path[4096];
	int pid = 0;
	FILE *f;

	run_path(path, sizeof(path), domain, role, "pid");
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid > 0 && kill(pid, 0) == 0)
		return pid;
	fprintf(stderr, "%s: no xrepl %s process for domain %s (%s)\n",
		prog_name, role, domain, f ? "stale pid file" : path);
	return -ESRCH;
}

int status_read(const char *path, char *line, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(line, (int)len, f))
		line[0] = '\0';
	fclose(f);
	return 0;
}

const char *status_field(const char *line, const char *key, char *buf,
			 size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(line, pat);
	if (!p) {
		snprintf(buf, len, "-");
		return buf;
	}
	p += strlen(pat);
	if (*p == '"')
		p++;
	n = strcspn(p, "\",}");
	snprintf(buf, len, "%.*s", (int)n, p);
	return buf;
}

const char *status_next_object(const char *line, const char *key,
			       const char **p)
{
	char pat[64];
	const char *start, *end;

	snprintf(pat, sizeof(pat), "\"%s\": [", key);
	start = strstr(line, pat);
	end = start ? strchr(start, ']') : NULL;
	if (!end)
		return *p = NULL;
	*p = strchr(*p ? *p + 1 : start, '{');
	if (*p && *p > end)
		*p = NULL;
	return *p;
}
