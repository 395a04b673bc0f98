// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Hypervisor version, with the checks that turn libxenctrl's bare ENOENT
 * into a sentence naming what is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xenctrl.h>

#include "libxrepl-private.h"
#include "xen_log.h"

static int check_control_domain(struct xrepl_ctx *ctx)
{
	char caps[128] = "";
	FILE *f;

	if (access("/dev/xen/privcmd", F_OK) &&
	    access("/proc/xen/privcmd", F_OK)) {
		err(ctx,
		    "not a Xen control domain: /proc/xen/privcmd is missing (not running under Xen, or xenfs is not mounted on /proc/xen, or xen-privcmd is not loaded)");
		return -ENOENT;
	}
	f = fopen("/proc/xen/capabilities", "re");
	if (!f)
		return 0;
	if (!fgets(caps, sizeof(caps), f))
		caps[0] = '\0';
	fclose(f);
	if (strstr(caps, "control_d"))
		return 0;
	err(ctx,
	    "this domain is not Xen's control domain: /proc/xen/capabilities lacks control_d");
	return -EPERM;
}

XREPL_EXPORT int xrepl_xen_version(struct xrepl_ctx *ctx,
				   struct xrepl_xen_version *ver)
{
	xen_extraversion_t extra;
	xentoollog_logger *xtl;
	xc_interface *xch;
	int r;

	r = check_control_domain(ctx);
	if (r < 0)
		return r;
	xtl = xrepl_xtl_new(ctx);
	if (!xtl)
		return -ENOMEM;
	xch = xc_interface_open(xtl, xtl, 0);
	if (!xch) {
		r = -errno;
		err(ctx, "cannot open libxenctrl: %s", strerror(errno));
		goto out;
	}
	r = xc_version(xch, XENVER_version, NULL);
	if (r < 0) {
		r = -errno;
		err(ctx, "XENVER_version failed: %s", strerror(errno));
		goto out_close;
	}
	ver->major = (unsigned int)r >> 16;
	ver->minor = (unsigned int)r & 0xffff;
	ver->extra[0] = '\0';
	if (xc_version(xch, XENVER_extraversion, &extra) == 0)
		snprintf(ver->extra, sizeof(ver->extra), "%.*s",
			 (int)sizeof(extra), extra);
	r = 0;
out_close:
	xc_interface_close(xch);
out:
	xtl_logger_destroy(xtl);
	return r;
}
