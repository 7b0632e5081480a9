// Builds a filter with libseccomp (Debian's libseccomp-dev) and writes its raw BPF to stdout:
// a peer's filter for `seccomp explain` tests and for the benchmark's side-by-side numbers.
// Usage: libseccomp-export [--guards] NAME[=ERRNO] ...   (default action allow; each NAME
// refused with ERRNO, EPERM if omitted; --guards adds jailx-like ioctl/socket/clone rules).
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return 1;
  // Police i386 and x32 too, as docker does (libseccomp adds one arch check per arch).
  seccomp_arch_add(ctx, SCMP_ARCH_X86);
  seccomp_arch_add(ctx, SCMP_ARCH_X32);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--guards")) {
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, 0x5412));
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, 0x541c));
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, 38));
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, 40));
      seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0x10000000UL, 0x10000000UL));
      continue;
    }
    char name[64];
    int err = EPERM;
    const char *eq = strchr(argv[i], '=');
    size_t n = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
    if (n >= sizeof name) return 2;
    memcpy(name, argv[i], n);
    name[n] = 0;
    if (eq) err = atoi(eq + 1);
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue; // unknown to this libseccomp: skip
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
    if (rc < 0 && rc != -EEXIST) fprintf(stderr, "libseccomp-export: %s: %s\n", name, strerror(-rc));
  }
  int rc = seccomp_export_bpf(ctx, STDOUT_FILENO);
  seccomp_release(ctx);
  return rc < 0 ? 1 : 0;
}
