/*
 * certs: a throwaway public-key infrastructure for the TLS tests, made at
 * run time with the `openssl` command in the test's private directory
 * (h_tmpdir), never committed.  Every key is ECDSA P-256.
 *
 * certs_get() makes, once per test case:
 *
 *   ca           "usher test CA", the CA the daemon's certificates and the
 *                good client certificate are signed by
 *   server       CN=localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1,
 *                serial 0x1001
 *   other        CN=other.test, SAN DNS:other.test, serial 0x1002 (SNI)
 *   client       CN=usher test client,O=usher tests, signed by ca (clientAuth)
 *   rogue_ca     "usher rogue CA", a CA nobody trusts
 *   rogue_client CN=usher rogue client, signed by rogue_ca
 *
 * Paths are absolute (usherd wants them so).  Key files are mode 0600.
 * When `openssl` is missing (and cannot be installed, see h_need) the test
 * is skipped.  Expected values (serials, subjects, fingerprints) come from
 * the openssl command too, never from the daemon's code.
 */
#ifndef USHER_CERTS_H
#define USHER_CERTS_H

#define CERTS_PATH_MAX 400

struct certs_pair {
    char cert[CERTS_PATH_MAX];
    char key[CERTS_PATH_MAX];
};

struct certs {
    char dir[256]; /* where they all are: h_tmpdir()/pki */
    struct certs_pair ca, server, other, client, rogue_ca, rogue_client;
};

/* The set above, made on the first call of the case. */
const struct certs *certs_get(void);

/*
 * Issue another certificate signed by the test CA into certs_get()->dir:
 * NAME.pem and NAME.key (replaced whole if they exist, by rename, so that
 * a reader sees the old or the new file, never half of one).  `cn` is the
 * subject's common name, `san` the subjectAltName value ("DNS:localhost,
 * IP:127.0.0.1") or NULL, `days` the validity from now (negative: already
 * expired), `serial` the serial number.  Fills *out if not NULL.
 */
void certs_issue(const char *name, const char *cn, const char *san, int days, unsigned long serial,
                 struct certs_pair *out);

/* A self-signed certificate and its key (a second CA, say): NAME.pem, NAME.key. */
void certs_self_signed(const char *name, const char *cn, int days, struct certs_pair *out);

/* What openssl says of the certificate in `pem` (malloc'd): its serial in
 * upper-case hex as `openssl x509 -serial` prints it ("1001"); its subject
 * in RFC 2253 form; the SHA-256 of its DER in lower-case hex, no colons. */
char *certs_serial(const char *pem);
char *certs_subject(const char *pem);
char *certs_sha256(const char *pem);

/* The serial number the test CA gives in hex, as certs_serial prints it. */
char *certs_serial_hex(unsigned long serial);

#endif
