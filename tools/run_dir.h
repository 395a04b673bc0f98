/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /run/xrepl: one pid file and one status file per protected domain and
 * role (<domain>.primary.pid, <domain>.backup.json...). XREPL_RUN_DIR
 * overrides the folder.
 */
#ifndef XREPL_RUN_DIR_H
#define XREPL_RUN_DIR_H

#include <sys/types.h>

const char *run_dir(void);
/* <run_dir>/<domain>.<role>.<ext> into buf */
void run_path(char *buf, size_t len, const char *domain, const char *role,
	      const char *ext);
int pid_file_write(const char *domain, const char *role);
void pid_file_remove(const char *domain, const char *role);
/* The live process holding that role, or -ESRCH (message printed). */
pid_t pid_file_read(const char *domain, const char *role);
/* A status file is one line of JSON; -errno if there is none. */
int status_read(const char *path, char *line, size_t len);
/* The value after "KEY": in a status line, as text ("-" if none). */
const char *status_field(const char *line, const char *key, char *buf,
			 size_t len);
/*
 * The objects of the status line's array KEY, one at a time: *P is NULL
 * to start, NULL again after the last.
 */
const char *status_next_object(const char *line, const char *key,
			       const char **p);

#endif
