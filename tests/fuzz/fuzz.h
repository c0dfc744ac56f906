/*
 * fuzz: what the libFuzzer targets of tests/fuzz share.
 *
 * Each target is one fuzz_<thing>.c with LLVMFuzzerTestOneInput; a failed
 * property calls fuzz_check's abort(), which libFuzzer reports as a crash
 * and saves the input for.  Targets that reach getaddrinfo, getpwnam and
 * the like call fuzz_no_sockets() first: a parser opens no socket, and a
 * name the fuzzer makes up must not become a DNS query.
 */
#ifndef USHER_FUZZ_H
#define USHER_FUZZ_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: say which and abort, so that the input is kept. */
#define fuzz_check(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#if defined(__x86_64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/*
 * From now on socket(2) and socketpair(2) fail with EACCES in this process
 * (a seccomp filter; libFuzzer and the sanitizers use no sockets): name
 * lookups then fail at once, as they would with no network.  Aborts if the
 * filter cannot be installed, rather than fuzz unguarded.
 */
static inline void fuzz_no_sockets(void)
{
#ifdef FUZZ_AUDIT_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUZZ_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
    };
    struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
        return;
    perror("fuzz: unable to install the seccomp filter");
#else
    fprintf(stderr, "fuzz: no seccomp filter for this architecture\n");
#endif
    abort();
}

#endif
