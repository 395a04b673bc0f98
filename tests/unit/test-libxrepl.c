// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "libxrepl-private.h"
#include "libxrepl.h"

struct captured {
	int calls;
	int priority;
	char msg[512];
};

static void capture_log(void *data, int priority, const char *file, int line,
			const char *fn, const char *format, va_list args)
{
	struct captured *c = data;

	c->calls++;
	c->priority = priority;
	vsnprintf(c->msg, sizeof(c->msg), format, args);
}

static void version_is_package_version(void **state)
{
	assert_string_equal(xrepl_version(), PACKAGE_VERSION);
}

static void ref_counts(void **state)
{
	struct xrepl_ctx *ctx = xrepl_new();

	assert_non_null(ctx);
	assert_ptr_equal(xrepl_ref(ctx), ctx);
	assert_ptr_equal(xrepl_unref(ctx), ctx);
	assert_null(xrepl_unref(ctx));
	assert_null(xrepl_unref(NULL));
}

static void log_priority_default_and_set(void **state)
{
	struct xrepl_ctx *ctx;

	unsetenv("XREPL_LOG");
	ctx = xrepl_new();
	assert_int_equal(xrepl_get_log_priority(ctx), LOG_ERR);
	xrepl_set_log_priority(ctx, LOG_DEBUG);
	assert_int_equal(xrepl_get_log_priority(ctx), LOG_DEBUG);
	xrepl_unref(ctx);

	setenv("XREPL_LOG", "debug", 1);
	ctx = xrepl_new();
	assert_int_equal(xrepl_get_log_priority(ctx), LOG_DEBUG);
	xrepl_unref(ctx);
	unsetenv("XREPL_LOG");
}

/*
 * On a host without Xen the failure must name the missing interface; in a
 * control domain (the lab) the same call must return a real version.
 */
static void xen_version_names_what_is_missing(void **state)
{
	struct xrepl_ctx *ctx = xrepl_new();
	struct xrepl_xen_version ver;
	struct captured log = { 0 };
	int r;

	xrepl_set_log_fn(ctx, capture_log, &log);
	r = xrepl_xen_version(ctx, &ver);
	if (access("/proc/xen/privcmd", F_OK) == 0) {
		assert_int_equal(r, 0);
		assert_true(ver.major >= 4);
	} else {
		assert_int_equal(r, -ENOENT);
		assert_int_equal(log.calls, 1);
		assert_int_equal(log.priority, LOG_ERR);
		assert_non_null(strstr(log.msg, "/proc/xen/privcmd"));
	}
	xrepl_unref(ctx);
}

/* What the backup takes as a guest's name from the primary's CONFIG. */
static void domain_names(void **state)
{
	static const char *const good[] = { "web-01", "db_2.example", "a",
					    "g+1", "Win10" };
	static const char *const bad[] = {
		"",	"../etc",    "a/b",    ".hidden", "-x",
		"a\"b", "tab\tname", "sp ace", "a\\b",	  "\xc3\xa9t\xc3\xa9"
	};
	char long_name[66];
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(domain_name_check(good[i], &why), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(domain_name_check(bad[i], &why), -EINVAL);
		assert_non_null(why);
	}
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_int_equal(domain_name_check(long_name, &why), -EINVAL);
	long_name[64] = '\0';
	assert_int_equal(domain_name_check(long_name, &why), 0);
}

/* Where the backup writes a replica the primary names, by itself. */
static void replica_paths(void **state)
{
	static const char *const good[] = { "/var/lib/xrepl/g.img",
					    "/var/lib/xrepl/sub/g.img",
					    "/var/lib/xrepl//g.img" };
	static const char *const bad[] = {
		"/var/lib/xrepl/../../etc/shadow",
		"/var/lib/xrepl/./g.img",
		"/var/lib/xrepl",
		"/var/lib/xrepl/",
		"/var/lib/xreplica/g.img",
		"/dev/sda",
		"var/lib/xrepl/g.img",
		"/var/lib/xrepl/sub/..",
	};
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
			replica_path_check(good[i], "/var/lib/xrepl", &why), 0);
		assert_int_equal(replica_path_check(good[i], "/var/lib/xrepl/",
						    &why),
				 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(replica_path_check(bad[i], "/var/lib/xrepl",
						    &why),
				 -EPERM);
		assert_non_null(why);
	}
}

/* The scripts libxl would run for the primary's devices. */
static void device_scripts(void **state)
{
	static const char *const good[] = { "block-xrepl", "vif-bridge",
					    "/etc/xen/scripts/vif-bridge",
					    "/etc/xen/scripts/block-xrepl" };
	static const char *const bad[] = { "/tmp/evil", "../../bin/sh",
					   "/etc/xen/scripts/../../../bin/sh",
					   "sub/../../x",
					   "/etc/xen/scriptsx/y" };
	const char *why;
	size_t i;

	assert_int_equal(device_script_check(NULL, &why), 0);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(device_script_check(good[i], &why), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(device_script_check(bad[i], &why), -EPERM);
		assert_non_null(why);
	}
}

/* a peer's words in a reason stay one JSON string */
static void json_strings(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	xrepl_json_string(f, "refused: \"x\", \"state\": \"ok\\\n\t");
	fclose(f);
	assert_string_equal(
		buf,
		"\"refused: \\\"x\\\", \\\"state\\\": \\\"ok\\\\\\u000a\\u0009\"");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_is_package_version),
		cmocka_unit_test(ref_counts),
		cmocka_unit_test(log_priority_default_and_set),
		cmocka_unit_test(xen_version_names_what_is_missing),
		cmocka_unit_test(domain_names),
		cmocka_unit_test(replica_paths),
		cmocka_unit_test(device_scripts),
		cmocka_unit_test(json_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
