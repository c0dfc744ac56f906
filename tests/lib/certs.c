/*
 * certs: the TLS tests' throwaway CA and certificates, made with the
 * openssl command (see certs.h).
 */
#include "certs.h"

#include "harness.h"
#include "t.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Extensions for `req -x509` (the CAs) and `x509 -req` (the leaves). */
static const char openssl_cnf[] = "[req]\n"
                                  "distinguished_name = dn\n"
                                  "prompt = no\n"
                                  "[dn]\n"
                                  "CN = unused\n"
                                  "[ca_ext]\n"
                                  "basicConstraints = critical,CA:TRUE\n"
                                  "keyUsage = critical,keyCertSign,cRLSign\n"
                                  "subjectKeyIdentifier = hash\n";

static struct certs made;
static bool made_ok;

/* Run openssl with `args` (NULL-ended); fail the test, showing its
 * messages, unless it exits 0.  Returns its stdout (malloc'd). */
static char *openssl(const char *const *args)
{
    const char *argv[40] = {"openssl"};
    struct h_result r;
    char *out;
    int n = 1;

    for (; *args != NULL && n < 39; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    h_run(&r, NULL, 0, 20000, argv);
    if (r.exit_code != 0)
        T_FAIL("openssl %s %s: exit %d: %s", argv[1], argv[2] ? argv[2] : "", r.exit_code, r.err);
    out = r.out;
    free(r.err);
    return out;
}

static void pair_paths(const char *name, struct certs_pair *p)
{
    snprintf(p->cert, sizeof(p->cert), "%s/%s.pem", made.dir, name);
    snprintf(p->key, sizeof(p->key), "%s/%s.key", made.dir, name);
}

/* Move `from` onto `to` whole. */
static void move(const char *from, const char *to)
{
    if (rename(from, to) < 0)
        T_FAIL("rename %s %s: %s", from, to, strerror(errno));
}

void certs_self_signed(const char *name, const char *cn, int days, struct certs_pair *out)
{
    struct certs_pair p, tmp;
    char *subj = h_fmt("/CN=%s", cn), *days_s = h_fmt("%d", days);
    char *cnf = h_fmt("%s/openssl.cnf", made.dir), *tname = h_fmt("%s.new", name);

    pair_paths(name, &p);
    pair_paths(tname, &tmp);
    const char *const args[] = {"req",
                                "-x509",
                                "-new",
                                "-newkey",
                                "ec",
                                "-pkeyopt",
                                "ec_paramgen_curve:P-256",
                                "-nodes",
                                "-keyout",
                                tmp.key,
                                "-out",
                                tmp.cert,
                                "-subj",
                                subj,
                                "-days",
                                days_s,
                                "-config",
                                cnf,
                                "-extensions",
                                "ca_ext",
                                "-set_serial",
                                "1",
                                NULL};
    free(openssl(args));
    chmod(tmp.key, 0600);
    move(tmp.key, p.key);
    move(tmp.cert, p.cert);
    if (out != NULL)
        *out = p;
    free(subj), free(days_s), free(cnf), free(tname);
}

/* Issue NAME signed by the CA `ca`, with the extensions `ext` (a file's text). */
static void issue_by(const struct certs_pair *ca, const char *name, const char *subj,
                     const char *ext, int days, unsigned long serial, struct certs_pair *out)
{
    struct certs_pair p, tmp;
    char *tname = h_fmt("%s.new", name), *cnf = h_fmt("%s/openssl.cnf", made.dir);
    char *csr = h_fmt("%s/%s.csr", made.dir, tname), *extfile = h_fmt("%s/%s.ext", made.dir, tname);
    char *days_s = h_fmt("%d", days), *serial_s = h_fmt("%lu", serial);

    pair_paths(name, &p);
    pair_paths(tname, &tmp);
    h_write_file(extfile, ext);
    const char *const req[] = {
        "req",    "-new",    "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", tmp.key,   "-out", csr,        "-subj",
        subj,     "-config", cnf,       NULL};
    const char *const sign[] = {"x509",   "-req",   "-in",      csr,           "-CA",
                                ca->cert, "-CAkey", ca->key,    "-set_serial", serial_s,
                                "-days",  days_s,   "-extfile", extfile,       "-extensions",
                                "leaf",   "-out",   tmp.cert,   NULL};
    free(openssl(req));
    free(openssl(sign));
    chmod(tmp.key, 0600);
    unlink(csr);
    unlink(extfile);
    move(tmp.key, p.key);
    move(tmp.cert, p.cert);
    if (out != NULL)
        *out = p;
    free(tname), free(cnf), free(csr), free(extfile), free(days_s), free(serial_s);
}

static char *server_ext(const char *san)
{
    return h_fmt("[leaf]\nbasicConstraints = CA:FALSE\n"
                 "keyUsage = critical,digitalSignature\n"
                 "extendedKeyUsage = serverAuth\n%s%s%s",
                 san ? "subjectAltName = " : "", san ? san : "", san ? "\n" : "");
}

static const char client_ext[] = "[leaf]\nbasicConstraints = CA:FALSE\n"
                                 "keyUsage = critical,digitalSignature\n"
                                 "extendedKeyUsage = clientAuth\n";

void certs_issue(const char *name, const char *cn, const char *san, int days, unsigned long serial,
                 struct certs_pair *out)
{
    char *subj = h_fmt("/CN=%s", cn), *ext = server_ext(san);

    certs_get();
    issue_by(&made.ca, name, subj, ext, days, serial, out);
    free(subj), free(ext);
}

const struct certs *certs_get(void)
{
    if (made_ok)
        return &made;
    h_need("openssl", "openssl");
    snprintf(made.dir, sizeof(made.dir), "%s/pki", h_tmpdir());
    if (mkdir(made.dir, 0755) < 0 && errno != EEXIST)
        T_FAIL("mkdir %s: %s", made.dir, strerror(errno));
    h_write_file(h_fmt("%s/openssl.cnf", made.dir), openssl_cnf);
    certs_self_signed("ca", "usher test CA", 30, &made.ca);
    certs_self_signed("rogue_ca", "usher rogue CA", 30, &made.rogue_ca);
    made_ok = true; /* certs_issue may be called from here on */
    certs_issue("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", 30, 0x1001,
                &made.server);
    certs_issue("other", "other.test", "DNS:other.test", 30, 0x1002, &made.other);
    issue_by(&made.ca, "client", "/O=usher tests/CN=usher test client", client_ext, 30, 0x2001,
             &made.client);
    issue_by(&made.rogue_ca, "rogue_client", "/CN=usher rogue client", client_ext, 30, 0x3001,
             &made.rogue_client);
    return &made;
}

/* The text after "KEY=" on openssl's one-line answer, trimmed (malloc'd). */
static char *after_equals(char *out, const char *what, const char *pem)
{
    char *eq = strchr(out, '='), *v;
    size_t len;

    if (eq == NULL)
        T_FAIL("openssl x509 %s %s: unexpected output \"%s\"", what, pem, out);
    v = eq + 1;
    len = strcspn(v, "\r\n");
    v = strndup(v, len);
    free(out);
    return v;
}

char *certs_serial(const char *pem)
{
    const char *const args[] = {"x509", "-in", pem, "-noout", "-serial", NULL};

    return after_equals(openssl(args), "-serial", pem);
}

char *certs_subject(const char *pem)
{
    const char *const args[] = {"x509",     "-in",      pem,       "-noout",
                                "-subject", "-nameopt", "RFC2253", NULL};
    char *s = after_equals(openssl(args), "-subject", pem);

    return s;
}

char *certs_sha256(const char *pem)
{
    const char *const args[] = {"x509", "-in", pem, "-noout", "-fingerprint", "-sha256", NULL};
    char *fp = after_equals(openssl(args), "-fingerprint", pem), *hex = malloc(strlen(fp) + 1);
    size_t n = 0;

    for (const char *p = fp; *p != '\0'; p++)
        if (*p != ':')
            hex[n++] = (char)tolower((unsigned char)*p);
    hex[n] = '\0';
    free(fp);
    return hex;
}

char *certs_serial_hex(unsigned long serial)
{
    char *hex = h_fmt("%lX", serial);

    if (strlen(hex) % 2 == 0)
        return hex;
    char *padded = h_fmt("0%s", hex);
    free(hex);
    return padded;
}
