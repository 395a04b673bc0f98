// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The channel's TLS 1.3: credentials (key files, X.509), refusals with a
 * reason (wrong key, a certificate that does not verify, a peer that does
 * not speak TLS 1.3), and a man in the middle between a primary's and a
 * backup's wire that flips, drops, injects and replays: each is detected,
 * the connection ends, and no frame is delivered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "libxrepl.h"
#include "tls.h"

static const uint8_t key_a[XREPL_KEY_LEN] = { 1, 2, 3 };
static const uint8_t key_b[XREPL_KEY_LEN] = { 1, 2, 4 };

struct side {
	struct xrepl_ctx *ctx;
	struct xrepl_tls *tls;
	struct xrepl_wire *w;
	int fd;
	int r;
	char msg[256];
};

static struct xrepl_ctx *quiet_ctx(void)
{
	struct xrepl_ctx *ctx = xrepl_new();

	xrepl_set_log_priority(ctx, 0);
	return ctx;
}

static void side_open(struct side *s, int fd, const struct xrepl_tls_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->ctx = quiet_ctx();
	s->fd = fd;
	s->tls = xrepl_tls_new(s->ctx, o);
	assert_non_null(s->tls);
	s->w = xrepl_wire_new(s->ctx, fd, fd, s->tls);
}

static void side_close(struct side *s)
{
	xrepl_wire_free(s->w);
	xrepl_tls_free(s->tls);
	xrepl_unref(s->ctx);
	if (s->fd >= 0)
		close(s->fd);
}

/* a primary on P, a backup on B: the two ends of one stream, or a relay's */
static void open_psk(struct side *p, struct side *b, int pfd, int bfd,
		     const uint8_t *kp, const uint8_t *kb)
{
	struct xrepl_tls_opts op = { .key = kp }, ob = { .key = kb };

	side_open(p, pfd, &op);
	side_open(b, bfd, &ob);
}

static void *accept_thread(void *arg)
{
	struct side *b = arg;

	b->r = xrepl_wire_accept(b->w, 2000);
	snprintf(b->msg, sizeof(b->msg), "%s", xrepl_wire_strerror(b->w));
	return NULL;
}

static void *connect_thread(void *arg)
{
	struct side *p = arg;

	p->r = xrepl_wire_connect(p->w, 2000);
	snprintf(p->msg, sizeof(p->msg), "%s", xrepl_wire_strerror(p->w));
	return NULL;
}

static void handshake(struct side *p, struct side *b)
{
	pthread_t t;

	pthread_create(&t, NULL, accept_thread, b);
	connect_thread(p);
	pthread_join(t, NULL);
}

static void want(const char *msg, const char *part)
{
	if (!strstr(msg, part))
		fail_msg("\"%s\" lacks \"%s\"", msg, part);
}

static void pair_fds(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void psk_authenticates_and_a_wrong_key_is_refused(void **state)
{
	struct side p, b;
	int sv[2];

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	handshake(&p, &b);
	assert_int_equal(p.r, 0);
	assert_int_equal(b.r, 0);
	side_close(&p);
	side_close(&b);

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_b);
	handshake(&p, &b);
	assert_int_equal(b.r, -EACCES);
	want(b.msg, "the peer does not hold our key");
	assert_int_equal(p.r, -EACCES);
	want(p.msg, "the peer refused our key");
	side_close(&p);
	side_close(&b);
}

/* the two ends of one TCP connection on the loopback */
static void tcp_fds(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept(l, NULL, NULL);
	assert_true(sv[1] >= 0);
	close(l);
}

static int nodelay(int fd)
{
	socklen_t len = sizeof(int);
	int v = 0;

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v;
}

/* an ACK or EPOCH_END never waits for the peer's delayed ACK (Nagle) */
static void small_frames_leave_at_once_over_tcp(void **state)
{
	struct side p, b;
	int sv[2];

	tcp_fds(sv);
	assert_false(nodelay(sv[0]));
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	handshake(&p, &b);
	assert_int_equal(p.r, 0);
	assert_int_equal(b.r, 0);
	assert_true(nodelay(sv[0]));
	assert_true(nodelay(sv[1]));
	side_close(&p);
	side_close(&b);
}

/* BYTES written raw at the backup: refused with -EPROTO and WHY. */
static void backup_refuses(const void *bytes, size_t len, const char *why)
{
	struct side p, b;
	pthread_t t;
	int sv[2];

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	pthread_create(&t, NULL, accept_thread, &b);
	assert_int_equal(write(p.fd, bytes, len), (ssize_t)len);
	pthread_join(t, NULL);
	assert_int_equal(b.r, -EPROTO);
	want(b.msg, why);
	side_close(&p);
	side_close(&b);
}

/* The protocol before TLS, either side, and what is not xrepl at all. */
static void a_plaintext_peer_is_refused(void **state)
{
	/* protocol 3's HELLO: version, nonce */
	static const uint8_t old_hello[8 + 36] = { 1, 0, 0, 0, 36, 0, 0, 0, 3 };
	/* protocol 3's backup refusing our ClientHello as a frame */
	static const uint8_t old_bye[8 + 5] = { 10, 0,	 0,   0,   5,	0,  0,
						0,  'h', 'e', 'l', 'l', 'o' };
	static const char http[] = "GET / HTTP/1.1\r\n\r\n";
	struct side p, b;
	uint8_t buf[4096];
	int sv[2];

	backup_refuses(old_hello, sizeof(old_hello), "does not speak TLS 1.3");
	backup_refuses(http, sizeof(http) - 1, "does not speak TLS 1.3");

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	assert_int_equal(write(b.fd, old_bye, sizeof(old_bye)),
			 (ssize_t)sizeof(old_bye));
	connect_thread(&p);
	assert_int_equal(p.r, -EPROTO);
	want(p.msg, "does not speak TLS 1.3");
	/* what it sent was a ClientHello, no frame of ours */
	assert_true(read(b.fd, buf, sizeof(buf)) > 5);
	assert_int_equal(buf[0], 0x16);
	side_close(&p);
	side_close(&b);
}

/* A plain OpenSSL client on FD, as SETUP makes it, that just connects. */
struct raw_client {
	int fd;
	void (*setup)(SSL_CTX *c);
};

static void *raw_client_main(void *arg)
{
	struct raw_client *rc = arg;
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	rc->setup(c);
	ssl = SSL_new(c);
	SSL_set_fd(ssl, rc->fd);
	SSL_connect(ssl);
	SSL_free(ssl);
	SSL_CTX_free(c);
	return NULL;
}

/* The backup's answer to a raw client made by SETUP: -errno, WHY. */
static void backup_answers(void (*setup)(SSL_CTX *c), int r, const char *why)
{
	struct raw_client rc = { .setup = setup };
	struct side p, b;
	pthread_t t;
	int sv[2];

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	rc.fd = p.fd;
	pthread_create(&t, NULL, raw_client_main, &rc);
	accept_thread(&b);
	pthread_join(t, NULL);
	assert_int_equal(b.r, r);
	want(b.msg, why);
	side_close(&p);
	side_close(&b);
}

static void tls12_only(SSL_CTX *c)
{
	SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
}

static int other_identity(SSL *ssl, const EVP_MD *md, const unsigned char **id,
			  size_t *idlen, SSL_SESSION **sess)
{
	static const unsigned char tls_aes_128_gcm_sha256[2] = { 0x13, 0x01 };

	*sess = SSL_SESSION_new();
	SSL_SESSION_set1_master_key(*sess, key_a, XREPL_KEY_LEN);
	SSL_SESSION_set_cipher(*sess,
			       SSL_CIPHER_find(ssl, tls_aes_128_gcm_sha256));
	SSL_SESSION_set_protocol_version(*sess, TLS1_3_VERSION);
	*id = (const unsigned char *)"someone";
	*idlen = 7;
	return 1;
}

static void with_other_identity(SSL_CTX *c)
{
	SSL_CTX_set_psk_use_session_callback(c, other_identity);
}

/* A key under another name is not taken for ours, and the log says so. */
static void another_key_identity_is_refused(void **state)
{
	backup_answers(with_other_identity, -EACCES,
		       "another key identity (7 bytes)");
}

/* No downgrade: a peer offering TLS 1.2 at most is refused by name. */
static void tls12_is_refused(void **state)
{
	backup_answers(tls12_only, -EPROTO, "does not speak TLS 1.3");
	backup_answers(tls12_only, -EPROTO, "unsupported protocol");
}

/* Inside TLS, the wire's own version check: another version gets a BYE. */
static void another_wire_version_is_refused(void **state)
{
	static const uint8_t hello3[12] = { 1, 0, 0, 0, 4, 0, 0, 0, 3 };
	struct xrepl_tls_opts o = { .key = key_a };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_tls *tls = xrepl_tls_new(ctx, &o);
	struct tls_conn c;
	struct side p, b;
	char msg[256];
	uint8_t buf[256];
	pthread_t t;
	ssize_t n;
	int sv[2];

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	pthread_create(&t, NULL, accept_thread, &b);
	assert_int_equal(
		tls_conn_open(&c, tls, p.fd, p.fd, 0, msg, sizeof(msg)), 0);
	assert_int_equal(tls_conn_handshake(&c, 2000, msg, sizeof(msg)), 0);
	assert_int_equal(tls_conn_write(&c, hello3, sizeof(hello3), 2000, msg,
					sizeof(msg)),
			 0);
	n = tls_conn_read(&c, buf, sizeof(buf), 2000, msg, sizeof(msg));
	pthread_join(t, NULL);
	assert_true(n > 8);
	assert_int_equal(buf[0], XREPL_FRAME_BYE);
	assert_int_equal(b.r, -EPROTO);
	want(b.msg, "the peer speaks protocol version 3, we speak 4");
	tls_conn_close(&c);
	xrepl_tls_free(tls);
	xrepl_unref(ctx);
	side_close(&p);
	side_close(&b);
}

/* ------------------------------------------------------------ the MITM */

enum mitm_act { PASS, FLIP, DROP, INJECT, REPLAY };

/*
 * Between the primary (on a) and the backup (on b), forwarding whole TLS
 * records; once armed, it does ACT to the first application-data record
 * going the way of TO_PRIMARY (INJECT: a record of its own, at once). It
 * records what the primary sent.
 */
struct mitm {
	int a, b;
	enum mitm_act act;
	int to_primary;
	volatile int armed;
	int done;
	uint8_t *sent;
	size_t sent_len;
	pthread_t t;
};

struct flow {
	uint8_t buf[1 << 18];
	size_t have;
};

static void write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len && (n = write(fd, p, len)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

/* a record of application data no one wrote: what a forged ACK looks like */
static void inject(int fd)
{
	uint8_t rec[5 + 8 + 8 + 16] = { 0x17, 3,   3, 0, 32, XREPL_FRAME_ACK,
					0,    0,   0, 8, 0,  0,
					0,    0xff };

	write_all(fd, rec, sizeof(rec));
}

static void forward(struct mitm *m, struct flow *fl, int to_primary, int out)
{
	uint8_t *rec = fl->buf;
	size_t len;

	while (fl->have >= 5 &&
	       fl->have >= (len = 5 + (size_t)(rec[3] << 8 | rec[4]))) {
		if (m->armed && !m->done && to_primary == m->to_primary &&
		    rec[0] == 0x17 && m->act != INJECT) {
			m->done = 1;
			if (m->act == FLIP)
				rec[5 + (len - 5) / 2] ^= 0x04;
			if (m->act != DROP)
				write_all(out, rec, len);
			if (m->act == REPLAY)
				write_all(out, rec, len);
		} else {
			write_all(out, rec, len);
		}
		memmove(fl->buf, fl->buf + len, fl->have - len);
		fl->have -= len;
	}
}

static void *mitm_main(void *arg)
{
	struct mitm *m = arg;
	struct pollfd pfd[2] = { { .fd = m->a, .events = POLLIN },
				 { .fd = m->b, .events = POLLIN } };
	struct flow *fl = calloc(2, sizeof(*fl));
	ssize_t n;
	int i;

	for (;;) {
		if (m->armed && !m->done && m->act == INJECT) {
			inject(m->to_primary ? m->a : m->b);
			m->done = 1;
		}
		if (poll(pfd, 2, 10) < 0)
			break;
		for (i = 0; i < 2; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			n = read(pfd[i].fd, fl[i].buf + fl[i].have,
				 sizeof(fl[i].buf) - fl[i].have);
			if (n <= 0)
				goto out;
			if (i == 0) {
				m->sent = realloc(m->sent,
						  m->sent_len + (size_t)n);
				memcpy(m->sent + m->sent_len,
				       fl[i].buf + fl[i].have, (size_t)n);
				m->sent_len += (size_t)n;
			}
			fl[i].have += (size_t)n;
			forward(m, &fl[i], i, i ? m->a : m->b);
		}
	}
out:
	free(fl);
	shutdown(m->a, SHUT_RDWR);
	shutdown(m->b, SHUT_RDWR);
	return NULL;
}

/* P and B authenticated to each other through the MITM, then armed. */
static void mitm_open(struct mitm *m, struct side *p, struct side *b,
		      enum mitm_act act, int to_primary)
{
	int ps[2], bs[2];

	pair_fds(ps);
	pair_fds(bs);
	memset(m, 0, sizeof(*m));
	m->a = ps[1];
	m->b = bs[1];
	m->act = act;
	m->to_primary = to_primary;
	pthread_create(&m->t, NULL, mitm_main, m);
	open_psk(p, b, ps[0], bs[0], key_a, key_a);
	handshake(p, b);
	assert_int_equal(p->r, 0);
	assert_int_equal(b->r, 0);
	m->armed = 1;
}

static void mitm_close(struct mitm *m, struct side *p, struct side *b)
{
	side_close(p);
	side_close(b);
	pthread_join(m->t, NULL);
	close(m->a);
	close(m->b);
	free(m->sent);
}

static uint8_t big[100000];

/* The backup's next receive: the stream fails, no frame. */
static void backup_detects(struct side *b, const char *why)
{
	struct xrepl_frame f;

	assert_int_equal(xrepl_wire_recv(b->w, &f, 2000), -EBADMSG);
	want(xrepl_wire_strerror(b->w), why);
	/* and it stays failed: nothing after it is taken either */
	assert_true(xrepl_wire_recv(b->w, &f, 100) < 0);
}

/* A checkpoint's data, with ACT done to its first record on the way. */
static void checkpoint_through(enum mitm_act act)
{
	struct side p, b;
	struct mitm m;

	mitm_open(&m, &p, &b, act, 0);
	assert_int_equal(
		xrepl_wire_send(p.w, XREPL_FRAME_STREAM, big, sizeof(big)), 0);
	backup_detects(&b, "tampered with or corrupt");
	assert_int_equal(m.done, 1);
	mitm_close(&m, &p, &b);
}

static void tamper_one_bit_of_a_checkpoint(void **state)
{
	checkpoint_through(FLIP);
}

static void mitm_drops_a_record(void **state)
{
	checkpoint_through(DROP);
}

static void mitm_replays_a_record(void **state)
{
	struct xrepl_frame f;
	struct side p, b;
	struct mitm m;

	mitm_open(&m, &p, &b, REPLAY, 0);
	assert_int_equal(xrepl_wire_send_u64(p.w, XREPL_FRAME_EPOCH_END, 5), 0);
	/* the first copy is the real one; its replay is refused */
	assert_int_equal(xrepl_wire_recv(b.w, &f, 2000), 1);
	assert_int_equal(f.type, XREPL_FRAME_EPOCH_END);
	backup_detects(&b, "tampered with or corrupt");
	mitm_close(&m, &p, &b);
}

/* An ACK forged into the stream would release held output: refused. */
static void mitm_forges_an_ack(void **state)
{
	struct xrepl_frame f;
	struct side p, b;
	struct mitm m;

	mitm_open(&m, &p, &b, INJECT, 1);
	assert_int_equal(xrepl_wire_recv(p.w, &f, 2000), -EBADMSG);
	want(xrepl_wire_strerror(p.w), "tampered with or corrupt");
	assert_true(xrepl_wire_recv(p.w, &f, 100) < 0);
	mitm_close(&m, &p, &b);
}

/* A whole earlier session, replayed to a backup: no frame gets through. */
static void mitm_replays_an_earlier_session(void **state)
{
	struct xrepl_frame f;
	struct side p, b;
	struct mitm m;
	int sv[2];

	mitm_open(&m, &p, &b, PASS, 0);
	assert_int_equal(xrepl_wire_send(p.w, XREPL_FRAME_CONFIG, "{}", 2), 0);
	assert_int_equal(xrepl_wire_send_u64(p.w, XREPL_FRAME_EPOCH_END, 1), 0);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 2000), 1);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 2000), 1);
	side_close(&p);
	side_close(&b);
	pthread_join(m.t, NULL);

	pair_fds(sv);
	open_psk(&p, &b, sv[0], sv[1], key_a, key_a);
	write_all(p.fd, m.sent, m.sent_len);
	shutdown(p.fd, SHUT_WR);
	accept_thread(&b);
	assert_true(b.r < 0);
	assert_true(xrepl_wire_recv(b.w, &f, 100) < 0);
	side_close(&p);
	side_close(&b);
	close(m.a);
	close(m.b);
	free(m.sent);
}

/* ------------------------------------------------------------ X.509 */

struct pki {
	char *dir;
	char path[16][96];
	int n;
};

static const char *pki_file(struct pki *k, const char *name)
{
	char *p = k->path[k->n++];

	snprintf(p, sizeof(k->path[0]), "%s/%s", k->dir, name);
	return p;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for KEY named CN, valid FROM..TO seconds from now. */
static X509 *certify(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
		     long from, long to, const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x));
	add_ext(x, ca ? ca : x, NID_basic_constraints,
		ca ? "CA:FALSE" : "critical,CA:TRUE");
	if (san)
		add_ext(x, ca, NID_subject_alt_name, san);
	assert_true(X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) > 0);
	return x;
}

static const char *write_cert(struct pki *k, const char *name, X509 *x)
{
	const char *path = pki_file(k, name);
	FILE *f = fopen(path, "w");

	PEM_write_X509(f, x);
	fclose(f);
	return path;
}

static const char *write_key(struct pki *k, const char *name, EVP_PKEY *key)
{
	const char *path = pki_file(k, name);
	FILE *f = fopen(path, "w");

	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	return path;
}

struct creds {
	const char *ca, *other_ca, *backup, *backup_key, *primary, *primary_key,
		*stranger, *stranger_key, *expired, *expired_key;
};

static void make_pki(struct pki *k, struct creds *c)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"),
		 *other_key = EVP_EC_gen("P-256");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *ca =
		certify(ca_key, "xrepl test CA", NULL, NULL, -60, 3600, NULL);
	X509 *other =
		certify(other_key, "another CA", NULL, NULL, -60, 3600, NULL);
	X509 *x;

	memset(k, 0, sizeof(*k));
	k->dir = strdup("/tmp/xrepl-pki-XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	c->ca = write_cert(k, "ca.pem", ca);
	c->other_ca = write_cert(k, "other-ca.pem", other);
	x = certify(key, "backup", ca, ca_key, -60, 3600,
		    "DNS:backup.example,IP:127.0.0.1");
	c->backup = write_cert(k, "backup.pem", x);
	X509_free(x);
	c->backup_key = write_key(k, "backup.key", key);
	x = certify(key, "primary", ca, ca_key, -60, 3600,
		    "DNS:primary.example");
	c->primary = write_cert(k, "primary.pem", x);
	X509_free(x);
	c->primary_key = write_key(k, "primary.key", key);
	/* its key is its CA's: the one key here no other certificate has */
	x = certify(other_key, "stranger", other, other_key, -60, 3600,
		    "DNS:backup.example");
	c->stranger = write_cert(k, "stranger.pem", x);
	X509_free(x);
	c->stranger_key = write_key(k, "stranger.key", other_key);
	x = certify(key, "backup", ca, ca_key, -7200, -3600,
		    "DNS:backup.example");
	c->expired = write_cert(k, "expired.pem", x);
	X509_free(x);
	c->expired_key = write_key(k, "expired.key", key);
	X509_free(ca);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(key);
}

static void remove_pki(struct pki *k)
{
	int i;

	for (i = 0; i < k->n; i++)
		unlink(k->path[i]);
	rmdir(k->dir);
	free(k->dir);
}

/* A handshake of a primary (certificate PC) and a backup (BC). */
static void x509_pair(struct side *p, struct side *b, const char *pc,
		      const char *pk, const char *pca, const char *peer_name,
		      const char *bc, const char *bk, const char *bca)
{
	struct xrepl_tls_opts op = { .cert = pc,
				     .cert_key = pk,
				     .ca = pca,
				     .peer_name = peer_name },
			      ob = { .cert = bc, .cert_key = bk, .ca = bca };
	int sv[2];

	pair_fds(sv);
	side_open(p, sv[0], &op);
	side_open(b, sv[1], &ob);
	handshake(p, b);
}

struct raw_server {
	const char *cert, *key;
	int fd;
};

/* A TLS 1.3 server that presents any certificate it is given. */
static void *raw_server_main(void *arg)
{
	struct raw_server *s = arg;
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	SSL *ssl;

	SSL_CTX_use_certificate_file(c, s->cert, SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(c, s->key, SSL_FILETYPE_PEM);
	ssl = SSL_new(c);
	SSL_set_fd(ssl, s->fd);
	SSL_accept(ssl);
	SSL_free(ssl);
	SSL_CTX_free(c);
	return NULL;
}

static void x509_both_ways_and_its_refusals(void **state)
{
	struct xrepl_tls_opts o = { 0 }, psk = { .key = key_a };
	struct raw_server rs;
	struct side p, b;
	struct pki k;
	struct creds c;
	pthread_t t;
	int sv[2];

	make_pki(&k, &c);
	x509_pair(&p, &b, c.primary, c.primary_key, c.ca, "backup.example",
		  c.backup, c.backup_key, c.ca);
	assert_int_equal(p.r, 0);
	assert_int_equal(b.r, 0);
	side_close(&p);
	side_close(&b);

	x509_pair(&p, &b, c.primary, c.primary_key, c.ca, "127.0.0.1", c.backup,
		  c.backup_key, c.ca);
	assert_int_equal(p.r, 0);
	side_close(&p);
	side_close(&b);

	/* the backup's certificate is for another name */
	x509_pair(&p, &b, c.primary, c.primary_key, c.ca, "elsewhere.example",
		  c.backup, c.backup_key, c.ca);
	assert_int_equal(p.r, -EACCES);
	want(p.msg, "hostname mismatch");
	assert_true(b.r < 0);
	side_close(&p);
	side_close(&b);

	/* a primary whose certificate another CA signed */
	x509_pair(&p, &b, c.stranger, c.stranger_key, c.ca, "backup.example",
		  c.backup, c.backup_key, c.ca);
	assert_int_equal(b.r, -EACCES);
	want(b.msg, "the peer's certificate is refused");
	assert_int_equal(p.r, -EACCES);
	side_close(&p);
	side_close(&b);

	/* a primary with a key, not a certificate */
	o.cert = c.backup;
	o.cert_key = c.backup_key;
	o.ca = c.ca;
	pair_fds(sv);
	side_open(&p, sv[0], &psk);
	side_open(&b, sv[1], &o);
	handshake(&p, &b);
	assert_true(p.r < 0);
	assert_true(b.r < 0);
	side_close(&p);
	side_close(&b);

	/* a backup that presents an expired certificate */
	o = (struct xrepl_tls_opts){ .cert = c.primary,
				     .cert_key = c.primary_key,
				     .ca = c.ca,
				     .peer_name = "backup.example" };
	pair_fds(sv);
	side_open(&p, sv[0], &o);
	rs = (struct raw_server){ c.expired, c.expired_key, sv[1] };
	pthread_create(&t, NULL, raw_server_main, &rs);
	connect_thread(&p);
	pthread_join(t, NULL);
	assert_int_equal(p.r, -EACCES);
	want(p.msg, "certificate has expired");
	close(sv[1]);
	side_close(&p);

	/* and xrepl does not start with one */
	p.ctx = quiet_ctx();
	o.cert = c.expired;
	o.cert_key = c.expired_key;
	assert_null(xrepl_tls_new(p.ctx, &o));
	/* nor with a private key others may read */
	chmod(c.primary_key, 0644);
	o.cert = c.primary;
	o.cert_key = c.primary_key;
	assert_null(xrepl_tls_new(p.ctx, &o));
	chmod(c.primary_key, 0600);
	/* nor with the key of another certificate */
	o.cert_key = c.stranger_key;
	assert_null(xrepl_tls_new(p.ctx, &o));
	/* a certificate without its key or CA is no credential */
	o.ca = NULL;
	assert_null(xrepl_tls_new(p.ctx, &o));
	o = (struct xrepl_tls_opts){ 0 };
	assert_null(xrepl_tls_new(p.ctx, &o));
	xrepl_unref(p.ctx);
	remove_pki(&k);
}

static void key_files(void **state)
{
	char dir[] = "/tmp/xrepl-key-XXXXXX", path[64], bad[64], link[64];
	uint8_t key[XREPL_KEY_LEN], back[XREPL_KEY_LEN];
	struct xrepl_ctx *ctx = xrepl_new();
	struct stat st;
	FILE *f;

	xrepl_set_log_priority(ctx, 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(xrepl_key_generate(key), 0);
	assert_int_equal(xrepl_key_save(ctx, path, key), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	/* never overwritten */
	assert_int_equal(xrepl_key_save(ctx, path, key), -EEXIST);
	assert_int_equal(xrepl_key_load(ctx, path, back), 0);
	assert_memory_equal(key, back, XREPL_KEY_LEN);
	f = fopen(bad, "w");
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(chmod(bad, 0600), 0);
	assert_int_equal(xrepl_key_load(ctx, bad, back), -EINVAL);
	assert_int_equal(xrepl_key_load(ctx, "/nonexistent/key", back),
			 -ENOENT);
	/* as ssh with a private key: open to others is refused */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(xrepl_key_load(ctx, path, back), -EACCES);
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(xrepl_key_load(ctx, path, back), -EACCES);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(xrepl_key_load(ctx, link, back), -ELOOP);
	assert_int_equal(xrepl_key_load(ctx, dir, back), -EINVAL);
	unlink(link);
	unlink(path);
	unlink(bad);
	rmdir(dir);
	xrepl_unref(ctx);
}

/* ------------------------------------------------------------ key updates */

struct conn_side {
	struct tls_conn c;
	uint64_t bytes;
	int r;
};

static void *conn_handshake(void *arg)
{
	struct conn_side *s = arg;
	char msg[256];

	s->r = tls_conn_handshake(&s->c, 5000, msg, sizeof(msg));
	return NULL;
}

static void *conn_drain(void *arg)
{
	struct conn_side *s = arg;
	char msg[256];
	uint8_t *buf = malloc(1 << 16);
	ssize_t n;

	while (s->bytes && (n = tls_conn_read(&s->c, buf, 1 << 16, 5000, msg,
					      sizeof(msg))) > 0)
		s->bytes -= (uint64_t)n;
	free(buf);
	return NULL;
}

/* Past a GiB the sender moves to fresh keys; the stream goes on. */
static void keys_are_updated_past_a_gib(void **state)
{
	struct xrepl_tls_opts o = { .key = key_a };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_tls *tls = xrepl_tls_new(ctx, &o);
	struct conn_side p = { 0 }, b = { 0 };
	uint64_t total = (1ull << 30) + (64u << 20), sent;
	size_t chunk = 1u << 20;
	uint8_t *buf = calloc(1, chunk);
	char msg[256];
	pthread_t t;
	int sv[2];

	pair_fds(sv);
	assert_int_equal(
		tls_conn_open(&p.c, tls, sv[0], sv[0], 0, msg, sizeof(msg)), 0);
	assert_int_equal(
		tls_conn_open(&b.c, tls, sv[1], sv[1], 1, msg, sizeof(msg)), 0);
	pthread_create(&t, NULL, conn_handshake, &b);
	conn_handshake(&p);
	pthread_join(t, NULL);
	assert_int_equal(p.r, 0);
	assert_int_equal(b.r, 0);
	b.bytes = total;
	pthread_create(&t, NULL, conn_drain, &b);
	for (sent = 0; sent < total; sent += chunk)
		assert_int_equal(tls_conn_write(&p.c, buf, chunk, 5000, msg,
						sizeof(msg)),
				 0);
	pthread_join(t, NULL);
	assert_true(b.bytes == 0);
	/* the count starts again at the update: what came after it */
	assert_true(p.c.sent_since_update == 64u << 20);
	tls_conn_close(&p.c);
	tls_conn_close(&b.c);
	close(sv[0]);
	close(sv[1]);
	free(buf);
	xrepl_tls_free(tls);
	xrepl_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(psk_authenticates_and_a_wrong_key_is_refused),
		cmocka_unit_test(small_frames_leave_at_once_over_tcp),
		cmocka_unit_test(a_plaintext_peer_is_refused),
		cmocka_unit_test(another_key_identity_is_refused),
		cmocka_unit_test(tls12_is_refused),
		cmocka_unit_test(another_wire_version_is_refused),
		cmocka_unit_test(tamper_one_bit_of_a_checkpoint),
		cmocka_unit_test(mitm_drops_a_record),
		cmocka_unit_test(mitm_replays_a_record),
		cmocka_unit_test(mitm_forges_an_ack),
		cmocka_unit_test(mitm_replays_an_earlier_session),
		cmocka_unit_test(x509_both_ways_and_its_refusals),
		cmocka_unit_test(keys_are_updated_past_a_gib),
		cmocka_unit_test(key_files),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
