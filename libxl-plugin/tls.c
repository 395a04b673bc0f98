// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The channel's TLS 1.3 (OpenSSL) and its credentials: the pre-shared key
 * file as an external PSK, or X.509 certificates both ways under one CA.
 *
 * PSK mode keeps (EC)DHE (psk_dhe_ke, OpenSSL's default), so a key file that
 * leaks later does not open sessions recorded before. Nothing but TLS 1.3 is
 * offered or accepted; no session tickets (every connection is a full
 * handshake with fresh secrets).
 *
 * OpenSSL's SSL object takes no read in one thread beside a write in another,
 * and the wire has exactly that: the primary's ACK reader beside its sender,
 * the backup's heartbeat beside its reader. So the descriptors are made
 * non-blocking, every call into the SSL object is made under one lock, and
 * the waiting (poll) is done outside it. In TLS 1.3 a read never has to
 * write (no tickets, and our key updates ask for no answer) nor a write to
 * read, so neither side holds the lock while the other waits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libxrepl-private.h"
#include "tls.h"

/* the PSK's name in the ClientHello: there is one key per pair of hosts */
#define PSK_IDENTITY "xrepl"
/* TLS_AES_128_GCM_SHA256: its hash, SHA-256, is the one the PSK is bound to */
static const unsigned char psk_cipher[2] = { 0x13, 0x01 };

/*
 * AES-GCM under one key is good for about 2^24.5 records (RFC 8446 5.5);
 * a protected guest can send that much in hours, so each side moves to
 * fresh keys well before.
 */
#define KEY_UPDATE_BYTES (1ull << 30)

/* one SSL call writes at most this much: the reader waits no longer */
#define WRITE_SLICE (64u << 10)

struct xrepl_tls {
	struct xrepl_ctx *ctx;
	SSL_CTX *ssl;
	int psk;
	uint8_t key[XREPL_KEY_LEN];
	char *peer_name;
};

/* ------------------------------------------------------------ key files */

XREPL_EXPORT int xrepl_key_generate(uint8_t key[XREPL_KEY_LEN])
{
	return RAND_bytes(key, XREPL_KEY_LEN) == 1 ? 0 : -EIO;
}

XREPL_EXPORT int xrepl_key_save(struct xrepl_ctx *ctx, const char *path,
				const uint8_t key[XREPL_KEY_LEN])
{
	char hex[2 * XREPL_KEY_LEN + 2];
	int fd, i, r = 0;

	for (i = 0; i < XREPL_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * XREPL_KEY_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		err(ctx, "cannot create key file %s: %s", path,
		    strerror(errno));
		return r;
	}
	if (write(fd, hex, 2 * XREPL_KEY_LEN + 1) != 2 * XREPL_KEY_LEN + 1) {
		r = -EIO;
		err(ctx, "cannot write key file %s", path);
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		unlink(path);
	return r;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * As ssh treats a private key: whoever else can read the key can be either
 * side, so a key file others may read or write, or that another user owns,
 * is refused, not warned about. Symbolic links are not followed.
 */
static int open_secret(struct xrepl_ctx *ctx, const char *what,
		       const char *path)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		err(ctx, "cannot open %s %s: %s", what, path,
		    errno == ELOOP ?
			    "it is a symbolic link (name the file itself)" :
			    strerror(errno));
		return r;
	}
	r = -EINVAL;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		err(ctx, "cannot stat %s %s: %s", what, path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		err(ctx, "%s %s is not a regular file", what, path);
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = -EACCES;
		err(ctx, "%s %s is owned by uid %u, not by root or uid %u",
		    what, path, (unsigned int)st.st_uid,
		    (unsigned int)geteuid());
	} else if (st.st_mode & 077) {
		r = -EACCES;
		err(ctx,
		    "%s %s is open to group or others (mode %04o): chmod 600 it",
		    what, path, (unsigned int)(st.st_mode & 07777));
	} else {
		return fd;
	}
	close(fd);
	return r;
}

XREPL_EXPORT int xrepl_key_load(struct xrepl_ctx *ctx, const char *path,
				uint8_t key[XREPL_KEY_LEN])
{
	char hex[2 * XREPL_KEY_LEN + 4];
	ssize_t n;
	int fd, i, hi, lo;

	fd = open_secret(ctx, "key file", path);
	if (fd < 0)
		return fd;
	n = read(fd, hex, sizeof(hex));
	close(fd);
	if (n < 2 * XREPL_KEY_LEN ||
	    (n > 2 * XREPL_KEY_LEN && hex[2 * XREPL_KEY_LEN] != '\n') ||
	    n > 2 * XREPL_KEY_LEN + 1) {
		err(ctx,
		    "key file %s: want %d hex digits and a newline (xrepl genkey writes one)",
		    path, 2 * XREPL_KEY_LEN);
		return -EINVAL;
	}
	for (i = 0; i < XREPL_KEY_LEN; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			err(ctx, "key file %s: not a hex digit at offset %d",
			    path, 2 * i + (hi < 0 ? 0 : 1));
			return -EINVAL;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ------------------------------------------------------------ credentials */

static const char *ssl_reason(void)
{
	const char *s = ERR_reason_error_string(ERR_peek_last_error());

	return s ? s : "no reason given";
}

static SSL_SESSION *psk_session(const struct xrepl_tls *t, SSL *ssl)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, psk_cipher);
	SSL_SESSION *s = SSL_SESSION_new();

	if (!s || !cipher ||
	    !SSL_SESSION_set1_master_key(s, t->key, XREPL_KEY_LEN) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static struct xrepl_tls *tls_of(SSL *ssl)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* The primary offers the key (the backup may pick a cipher of SHA-256). */
static int use_psk(SSL *ssl, const EVP_MD *md, const unsigned char **id,
		   size_t *idlen, SSL_SESSION **sess)
{
	struct xrepl_tls *t = tls_of(ssl);

	*sess = NULL;
	if (md && EVP_MD_get_type(md) != NID_sha256)
		return 1;
	*sess = psk_session(t, ssl);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = strlen(PSK_IDENTITY);
	return 1;
}

static int find_psk(SSL *ssl, const unsigned char *id, size_t idlen,
		    SSL_SESSION **sess)
{
	struct tls_conn *c = SSL_get_app_data(ssl);

	*sess = NULL;
	if (idlen != strlen(PSK_IDENTITY) || memcmp(id, PSK_IDENTITY, idlen)) {
		snprintf(
			c->why, sizeof(c->why),
			"the peer offered another key identity (%zu bytes), not xrepl's",
			idlen);
		return 1;
	}
	*sess = psk_session(tls_of(ssl), ssl);
	return *sess != NULL;
}

/*
 * AES-GCM where the CPU has AES instructions; elsewhere (the lab's emulated
 * CPU, say) ChaCha20-Poly1305, several times faster in software. The
 * backup takes the primary's order. XREPL_TLS_CIPHERSUITES (OpenSSL's
 * names) overrides it, to measure one against the other.
 */
static const char *ciphersuites(void)
{
	const char *forced = getenv("XREPL_TLS_CIPHERSUITES");

	if (forced && *forced)
		return forced;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("aes"))
		return "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";
	return "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
}

/*
 * Kernel TLS only when asked (XREPL_TLS_KTLS=1): OpenSSL 3.0 hands the
 * kernel the sending side of TLS 1.3 on TCP; in the lab it was slower
 * (docs/performance.md). A pipe transport never has it.
 */
static int ktls_wanted(void)
{
	const char *v = getenv("XREPL_TLS_KTLS");

	return v && !strcmp(v, "1");
}

static int load_private_key(struct xrepl_tls *t, const char *path)
{
	EVP_PKEY *pkey;
	FILE *f;
	int fd, ok;

	fd = open_secret(t->ctx, "private key", path);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		err(t->ctx, "private key %s: %s", path, ssl_reason());
		return -EINVAL;
	}
	ok = SSL_CTX_use_PrivateKey(t->ssl, pkey);
	EVP_PKEY_free(pkey);
	if (!ok || !SSL_CTX_check_private_key(t->ssl)) {
		err(t->ctx,
		    "private key %s does not go with the certificate: %s", path,
		    ssl_reason());
		return -EINVAL;
	}
	return 0;
}

/* The certificate must be valid now: a host that cannot connect says so. */
static int certificate_current(struct xrepl_tls *t, const char *path)
{
	X509 *x = SSL_CTX_get0_certificate(t->ssl);

	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		err(t->ctx, "certificate %s is not valid yet", path);
		return -EINVAL;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		err(t->ctx, "certificate %s has expired", path);
		return -EINVAL;
	}
	return 0;
}

static int load_x509(struct xrepl_tls *t, const struct xrepl_tls_opts *o)
{
	int r;

	if (!o->cert_key || !o->ca) {
		err(t->ctx, "a certificate needs its private key and the CA");
		return -EINVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ssl, o->cert) != 1) {
		err(t->ctx, "certificate %s: %s", o->cert, ssl_reason());
		return -EINVAL;
	}
	r = certificate_current(t, o->cert);
	if (!r)
		r = load_private_key(t, o->cert_key);
	if (r < 0)
		return r;
	if (SSL_CTX_load_verify_locations(t->ssl, o->ca, NULL) != 1) {
		err(t->ctx, "CA certificate %s: %s", o->ca, ssl_reason());
		return -EINVAL;
	}
	SSL_CTX_set_verify(t->ssl,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	if (o->peer_name) {
		t->peer_name = strdup(o->peer_name);
		if (!t->peer_name)
			return -ENOMEM;
	}
	return 0;
}

static int configure(struct xrepl_tls *t, const struct xrepl_tls_opts *o)
{
	if (!SSL_CTX_set_min_proto_version(t->ssl, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ssl, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(t->ssl, ciphersuites()) ||
	    !SSL_CTX_set_num_tickets(t->ssl, 0))
		return -EIO;
	SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
	if (ktls_wanted())
		SSL_CTX_set_options(t->ssl, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_app_data(t->ssl, t);
	if (o->cert)
		return load_x509(t, o);
	if (!o->key) {
		err(t->ctx, "no credentials: a key file or a certificate");
		return -EINVAL;
	}
	t->psk = 1;
	memcpy(t->key, o->key, XREPL_KEY_LEN);
	SSL_CTX_set_psk_use_session_callback(t->ssl, use_psk);
	SSL_CTX_set_psk_find_session_callback(t->ssl, find_psk);
	return 0;
}

XREPL_EXPORT struct xrepl_tls *xrepl_tls_new(struct xrepl_ctx *ctx,
					     const struct xrepl_tls_opts *o)
{
	struct xrepl_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ctx = xrepl_ref(ctx);
	t->ssl = SSL_CTX_new(TLS_method());
	if (!t->ssl || configure(t, o) < 0) {
		if (!t->ssl)
			err(ctx, "OpenSSL: %s", ssl_reason());
		xrepl_tls_free(t);
		return NULL;
	}
	return t;
}

XREPL_EXPORT void xrepl_tls_free(struct xrepl_tls *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->key, sizeof(t->key));
	SSL_CTX_free(t->ssl);
	free(t->peer_name);
	xrepl_unref(t->ctx);
	free(t);
}

/* ------------------------------------------------------------ connections */

static int set_nonblocking(int fd, int *old)
{
	*old = fcntl(fd, F_GETFL);
	if (*old < 0 || fcntl(fd, F_SETFL, *old | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Small frames (a handshake's flight, EPOCH_END, ACK, heartbeats) leave at
 * once: Nagle would hold one behind an unacknowledged segment until the
 * peer's delayed ACK, up to 40 ms. A pipe is left as it is.
 */
static void send_at_once(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int check_peer_name(struct tls_conn *c, const char *name)
{
	unsigned char ip[16];
	X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

	if (inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 :
								      -EINVAL;
	return SSL_set1_host(c->ssl, name) == 1 ? 0 : -EINVAL;
}

int tls_conn_open(struct tls_conn *c, struct xrepl_tls *t, int in, int out,
		  int server, char *msg, size_t len)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->in = in;
	c->out = out;
	c->in_flags = c->out_flags = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->ssl = SSL_new(t->ssl);
	if (!c->ssl || SSL_set_rfd(c->ssl, in) != 1 ||
	    SSL_set_wfd(c->ssl, out) != 1) {
		snprintf(msg, len, "OpenSSL: %s", ssl_reason());
		return -ENOMEM;
	}
	SSL_set_app_data(c->ssl, c);
	if (server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	if (!server && t->peer_name && check_peer_name(c, t->peer_name) < 0) {
		snprintf(msg, len, "cannot check the backup's name %s: %s",
			 t->peer_name, ssl_reason());
		return -EINVAL;
	}
	send_at_once(out);
	r = set_nonblocking(in, &c->in_flags);
	if (!r)
		r = set_nonblocking(out, &c->out_flags);
	if (r < 0)
		snprintf(msg, len,
			 "cannot make the connection non-blocking: %s",
			 strerror(-r));
	return r;
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
	return SSL_get_cipher_name(c->ssl);
}

int tls_conn_kernel_sends(const struct tls_conn *c)
{
	return BIO_get_ktls_send(SSL_get_wbio(c->ssl)) > 0;
}

void tls_conn_close(struct tls_conn *c)
{
	/* in the reverse order: IN and OUT may be one descriptor */
	if (c->out_flags >= 0)
		fcntl(c->out, F_SETFL, c->out_flags);
	if (c->in_flags >= 0)
		fcntl(c->in, F_SETFL, c->in_flags);
	SSL_free(c->ssl);
	c->ssl = NULL;
	pthread_mutex_destroy(&c->lock);
}

/* For what SSL_ERROR E asks: 0 once it may be, -ETIMEDOUT, or -errno. */
static int wait_for(struct tls_conn *c, int e, double deadline)
{
	struct pollfd pfd;
	int r, wait;

	pfd.fd = e == SSL_ERROR_WANT_WRITE ? c->out : c->in;
	pfd.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	for (;;) {
		wait = deadline < 0 ? -1 : (int)(deadline - xrepl_now_ms());
		if (deadline >= 0 && wait <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, wait);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static double deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : xrepl_now_ms() + timeout_ms;
}

/* A certificate the peer sent that does not verify: why, in X.509's words. */
static int verify_failure(struct tls_conn *c, char *msg, size_t len)
{
	long v = SSL_get_verify_result(c->ssl);

	snprintf(msg, len, "the peer's certificate is refused: %s",
		 X509_verify_cert_error_string(v));
	return -EACCES;
}

/* An alert of the peer's that says it does not take our credentials. */
static int refused_us(int reason)
{
	switch (reason) {
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return 1;
	default:
		return 0;
	}
}

/* What a failed handshake means, for the log: -EACCES, -EPROTO, -EPIPE. */
static int handshake_failure(struct tls_conn *c, int e, char *msg, size_t len)
{
	unsigned long code = ERR_peek_last_error();
	int reason = ERR_GET_REASON(code);

	if (c->why[0]) {
		snprintf(msg, len, "authentication failed: %s", c->why);
		return -EACCES;
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN || !code ||
	    (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	     reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		snprintf(
			msg, len,
			"the peer closed the connection during the TLS handshake (it refused us, or it is not xrepl)");
		return -EPIPE;
	}
	if (ERR_GET_LIB(code) != ERR_LIB_SSL) {
		snprintf(msg, len, "TLS handshake failed: %s", ssl_reason());
		return -EPROTO;
	}
	/* what OpenSSL's backup answers a key it does not hold */
	if (reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER &&
	    tls_of(c->ssl)->psk)
		reason = SSL_R_TLSV1_ALERT_DECRYPT_ERROR;
	if (refused_us(reason)) {
		snprintf(
			msg, len,
			tls_of(c->ssl)->psk ?
				"authentication failed: the peer refused our key (%s)" :
				"authentication failed: the peer refused our certificate (%s)",
			ssl_reason());
		return -EACCES;
	}
	switch (reason) {
	case SSL_R_BINDER_DOES_NOT_VERIFY:
		snprintf(
			msg, len,
			"authentication failed: the peer does not hold our key");
		return -EACCES;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return verify_failure(c, msg, len);
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		snprintf(msg, len,
			 "authentication failed: the peer has no certificate");
		return -EACCES;
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_HTTP_REQUEST:
		snprintf(
			msg, len,
			"the peer does not speak TLS 1.3 (%s): an xrepl from before TLS, or not xrepl",
			ssl_reason());
		return -EPROTO;
	default:
		snprintf(msg, len, "TLS handshake failed: %s", ssl_reason());
		return -EPROTO;
	}
}

int tls_conn_handshake(struct tls_conn *c, int timeout_ms, char *msg,
		       size_t len)
{
	double deadline = deadline_of(timeout_ms);
	int r, e;

	for (;;) {
		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return handshake_failure(c, e, msg, len);
		r = wait_for(c, e, deadline);
		if (r == -ETIMEDOUT) {
			snprintf(
				msg, len,
				"the peer sent nothing for %d ms (TLS handshake)",
				timeout_ms);
			return r;
		}
		if (r < 0) {
			snprintf(msg, len, "TLS handshake: %s", strerror(-r));
			return r;
		}
	}
}

/* What one SSL read or write, made under the lock, left. */
struct io {
	size_t n;
	int e; /* SSL_ERROR_NONE: done */
	int saved_errno;
	unsigned long code;
};

static void maybe_update_keys(struct tls_conn *c, size_t n)
{
	c->sent_since_update += n;
	if (c->sent_since_update < KEY_UPDATE_BYTES)
		return;
	c->sent_since_update = 0;
	SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
}

static void ssl_io(struct tls_conn *c, int writing, void *buf, size_t len,
		   struct io *io)
{
	int ok;

	pthread_mutex_lock(&c->lock);
	ERR_clear_error();
	errno = 0;
	ok = writing ? SSL_write_ex(c->ssl, buf, len, &io->n) :
		       SSL_read_ex(c->ssl, buf, len, &io->n);
	io->e = ok ? SSL_ERROR_NONE : SSL_get_error(c->ssl, 0);
	io->saved_errno = errno;
	io->code = ERR_peek_last_error();
	if (ok && writing)
		maybe_update_keys(c, io->n);
	pthread_mutex_unlock(&c->lock);
}

/* After the handshake: a record that fails is the end of the stream. */
static int io_failure(struct tls_conn *c, const struct io *io, const char *dir,
		      char *msg, size_t len)
{
	const char *reason = ERR_reason_error_string(io->code);
	int lib = ERR_GET_LIB(io->code), r = ERR_GET_REASON(io->code);

	/* a peer that dies sends no close_notify: an EOF, not an attack */
	if (io->e == SSL_ERROR_ZERO_RETURN ||
	    (io->e == SSL_ERROR_SYSCALL && !io->saved_errno) ||
	    (io->e == SSL_ERROR_SSL && lib == ERR_LIB_SSL &&
	     r == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		snprintf(msg, len, "connection to the peer lost: closed");
		return -EPIPE;
	}
	if (io->e == SSL_ERROR_SYSCALL) {
		snprintf(msg, len, "%s the peer: %s", dir,
			 strerror(io->saved_errno));
		return -io->saved_errno;
	}
	/* TLS 1.3: a backup checks our certificate after we are done */
	if (lib == ERR_LIB_SSL && refused_us(r)) {
		snprintf(msg, len,
			 "authentication failed: the peer refused our %s (%s)",
			 tls_of(c->ssl)->psk ? "key" : "certificate",
			 reason ? reason : "no reason given");
		return -EACCES;
	}
	snprintf(
		msg, len,
		"%s the peer: the TLS stream failed (%s): tampered with or corrupt, the connection ends",
		dir, reason ? reason : "no reason given");
	return -EBADMSG;
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len, int timeout_ms,
		      char *msg, size_t mlen)
{
	double deadline = deadline_of(timeout_ms);
	struct io io;
	int r;

	for (;;) {
		ssl_io(c, 0, buf, len, &io);
		if (io.e == SSL_ERROR_NONE)
			return (ssize_t)io.n;
		if (io.e != SSL_ERROR_WANT_READ && io.e != SSL_ERROR_WANT_WRITE)
			return io_failure(c, &io, "receiving from", msg, mlen);
		r = wait_for(c, io.e, deadline);
		if (r == -ETIMEDOUT)
			return r;
		if (r < 0) {
			snprintf(msg, mlen, "receiving from the peer: %s",
				 strerror(-r));
			return r;
		}
	}
}

int tls_conn_write(struct tls_conn *c, const void *buf, size_t len,
		   int timeout_ms, char *msg, size_t mlen)
{
	uint8_t *p = (uint8_t *)buf;
	struct io io;
	int r;

	while (len) {
		ssl_io(c, 1, p, len < WRITE_SLICE ? len : WRITE_SLICE, &io);
		if (io.e == SSL_ERROR_NONE) {
			p += io.n;
			len -= io.n;
			continue;
		}
		if (io.e != SSL_ERROR_WANT_READ && io.e != SSL_ERROR_WANT_WRITE)
			return io_failure(c, &io, "sending to", msg, mlen);
		r = wait_for(c, io.e, deadline_of(timeout_ms));
		if (r == -ETIMEDOUT) {
			snprintf(
				msg, mlen,
				"sending to the peer: nothing went out for %d ms",
				timeout_ms);
			return r;
		}
		if (r < 0) {
			snprintf(msg, mlen, "sending to the peer: %s",
				 strerror(-r));
			return r;
		}
	}
	return 0;
}
