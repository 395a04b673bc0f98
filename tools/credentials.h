/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_CREDENTIALS_H
#define XREPL_CREDENTIALS_H

#include <getopt.h>

#include "libxrepl.h"
#include "subcommands.h"

/* What proves this host to its peer: --key, or --cert, --cert-key, --ca. */
struct credentials {
	const char *key_file;
	int key_given;
	const char *cert;
	const char *cert_key;
	const char *ca;
};

enum { CRED_CERT = 1024, CRED_CERT_KEY, CRED_CA };

/* clang-format off */
#define CREDENTIALS_OPTIONS					\
	{ "key", required_argument, NULL, 'k' },		\
	{ "cert", required_argument, NULL, CRED_CERT },		\
	{ "cert-key", required_argument, NULL, CRED_CERT_KEY },	\
	{ "ca", required_argument, NULL, CRED_CA }

#define CREDENTIALS_HELP						\
	"  -k, --key FILE        pre-shared key (default "		\
	XREPL_DEFAULT_KEY ")\n"					\
	"      --cert FILE       X.509 instead: this host's certificate (PEM)\n" \
	"      --cert-key FILE   its private key (PEM, mode 0600)\n"	\
	"      --ca FILE         the CA the peer's certificate must chain to\n"
/* clang-format on */

/* 1 if OPT is one of the options above (ARG taken), else 0. */
int credentials_option(struct credentials *c, int opt, const char *arg);
/*
 * The channel's credentials, or NULL with the reason printed. PEER_NAME: the
 * name the peer's certificate must carry (a primary's backup host), or NULL.
 */
struct xrepl_tls *credentials_load(struct xrepl_ctx *ctx,
				   const struct credentials *c,
				   const char *peer_name);
/* The options again into ARGV (room for 6), for a protection we start. */
int credentials_args(const struct credentials *c, const char **argv);

#endif
