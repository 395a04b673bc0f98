// SPDX-License-Identifier: GPL-2.0-or-later
/* The options that say how this host proves itself on the channel. */
#include <stdio.h>
#include <string.h>

#include "credentials.h"

int credentials_option(struct credentials *c, int opt, const char *arg)
{
	switch (opt) {
	case 'k':
		c->key_file = arg;
		c->key_given = 1;
		return 1;
	case CRED_CERT:
		c->cert = arg;
		return 1;
	case CRED_CERT_KEY:
		c->cert_key = arg;
		return 1;
	case CRED_CA:
		c->ca = arg;
		return 1;
	default:
		return 0;
	}
}

static int x509_complete(const struct credentials *c)
{
	if (!c->cert && !c->cert_key && !c->ca)
		return 0;
	if (!c->cert || !c->cert_key || !c->ca) {
		fprintf(stderr, "%s: --cert, --cert-key and --ca go together\n",
			prog_name);
		return -1;
	}
	if (c->key_given) {
		fprintf(stderr,
			"%s: --key or --cert: a pre-shared key or a certificate, not both\n",
			prog_name);
		return -1;
	}
	return 1;
}

struct xrepl_tls *credentials_load(struct xrepl_ctx *ctx,
				   const struct credentials *c,
				   const char *peer_name)
{
	struct xrepl_tls_opts o = { .peer_name = peer_name };
	uint8_t key[XREPL_KEY_LEN];
	struct xrepl_tls *t;
	int x509 = x509_complete(c);

	if (x509 < 0)
		return NULL;
	if (x509) {
		o.cert = c->cert;
		o.cert_key = c->cert_key;
		o.ca = c->ca;
	} else {
		if (xrepl_key_load(
			    ctx, c->key_file ? c->key_file : XREPL_DEFAULT_KEY,
			    key) < 0)
			return NULL;
		o.key = key;
	}
	t = xrepl_tls_new(ctx, &o);
	memset(key, 0, sizeof(key));
	return t;
}

int credentials_args(const struct credentials *c, const char **argv)
{
	int n = 0;

	if (c->cert) {
		argv[n++] = "--cert";
		argv[n++] = c->cert;
		argv[n++] = "--cert-key";
		argv[n++] = c->cert_key;
		argv[n++] = "--ca";
		argv[n++] = c->ca;
		return n;
	}
	argv[n++] = "-k";
	argv[n++] = c->key_file ? c->key_file : XREPL_DEFAULT_KEY;
	return n;
}
