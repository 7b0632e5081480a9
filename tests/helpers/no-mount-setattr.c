/* no-mount-setattr: run a command under a seccomp filter that makes mount_setattr (442, the same
 * number on every architecture) fail with ENOSYS, as on Linux < 5.12; everything else is allowed.
 * The filter is inherited by every process the command starts, so jailx's supervisor and the
 * jail's processes all see a kernel without mount_setattr.
 *   no-mount-setattr CMD ARGS...   exec CMD under the filter
 *   no-mount-setattr --probe       exit 0 when mount_setattr gives ENOSYS under the filter
 * As root the filter needs no no_new_privs (CAP_SYS_ADMIN), so setuid tools keep working. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 442, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	if (argc < 2) {
		fprintf(stderr, "usage: %s CMD ARGS... | --probe\n", argv[0]);
		return 125;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
			perror("no-mount-setattr: seccomp");
			return 125;
		}
	}
	if (strcmp(argv[1], "--probe") == 0) {
		/* arguments the real call rejects with EINVAL before doing anything */
		long r = syscall(442, -1, 0, 0, 0, 0);
		return r < 0 && errno == ENOSYS ? 0 : 1;
	}
	execvp(argv[1], argv + 1);
	perror("no-mount-setattr: execvp");
	return 127;
}
