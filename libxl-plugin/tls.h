/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef XREPL_TLS_H
#define XREPL_TLS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libxrepl.h"

/*
 * One TLS 1.3 connection over a byte stream (IN and OUT may be one socket,
 * or the two pipes of a transport command), for one reader thread and one
 * writer thread at once.
 */
struct tls_conn {
	struct ssl_st *ssl;
	int in;
	int out;
	int in_flags; /* the descriptors' flags before, restored at the end */
	int out_flags;
	pthread_mutex_t lock; /* every call into the SSL object */
	uint64_t sent_since_update;
	char why[160]; /* what a callback found wrong, for the error */
};

/* 0, or -errno with the reason in MSG. */
int tls_conn_open(struct tls_conn *c, struct xrepl_tls *t, int in, int out,
		  int server, char *msg, size_t len);
void tls_conn_close(struct tls_conn *c);
/* The ciphersuite the handshake agreed on. */
const char *tls_conn_cipher(const struct tls_conn *c);
/* 1 when the kernel encrypts what is sent (kTLS) */
int tls_conn_kernel_sends(const struct tls_conn *c);
int tls_conn_handshake(struct tls_conn *c, int timeout_ms, char *msg,
		       size_t len);
/* Bytes read (> 0), or -errno (-ETIMEDOUT: nothing within TIMEOUT_MS). */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len, int timeout_ms,
		      char *msg, size_t mlen);
/* All of BUF, or -errno: -ETIMEDOUT when nothing went out for TIMEOUT_MS. */
int tls_conn_write(struct tls_conn *c, const void *buf, size_t len,
		   int timeout_ms, char *msg, size_t mlen);

#endif
