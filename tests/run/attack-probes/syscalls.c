// Attack probe: syscalls that reach past the jail's boundaries (namespaces, mounts, keys,
// ptrace, io_uring, BPF, handles, terminal injection), through the native x86-64 ABI, the
// x32 ABI (bit 0x40000000) and the i386 ABI (int 0x80). Prints one `name=OK` or `name=errno:N`
// line per attempt; the test asserts none of them is OK inside a default jail.
// With `no-i386` the i386 calls are left out (for kernels without IA32 emulation).
// Compiled by tests/run/attacks.test.ts with gcc (x86-64 only). Never run it on the host without
// `abi`: outside a jail these calls succeed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A syscall through the i386 entry (int 0x80): arguments are 32-bit, so pointers must be low. */
static long int80(long nr, long a, long b, long c, long d, long e) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return r;
}

static void report(const char *name, long r) {
  if (r < 0) printf("%s=errno:%d\n", name, errno);
  else printf("%s=OK\n", name);
}

static void report_raw(const char *name, long r) {
  if (r < 0 && r > -4096) printf("%s=errno:%ld\n", name, -r);
  else printf("%s=OK\n", name);
}

int main(int argc, char **argv) {
  /* Low memory for the i386 calls' pointer arguments. */
  char *low = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (low == MAP_FAILED) return 2;
  strcpy(low, "/tmp");
  strcpy(low + 64, "tmpfs");
  strcpy(low + 128, "none");
  /* `abi`: only show that the i386 entry works here (run on the host: nothing else is tried). */
  if (argc > 1 && strcmp(argv[1], "abi") == 0) {
    report_raw("i386 getpid", int80(20, 0, 0, 0, 0, 0));
    return 0;
  }
  int nsfd = open("/proc/self/ns/mnt", O_RDONLY);
  struct clone_args ca = {0};
  ca.flags = CLONE_NEWUSER;
  ca.exit_signal = SIGCHLD;

  report("unshare(NEWUSER)", syscall(SYS_unshare, CLONE_NEWUSER));
  report("unshare(NEWNS)", syscall(SYS_unshare, CLONE_NEWNS));
  report("setns", syscall(SYS_setns, nsfd, 0));
  report("clone(NEWUSER)", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  report("clone(NEWUSER|high bits)", syscall(SYS_clone, 0x100000000L | CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  report("clone3(NEWUSER)", syscall(SYS_clone3, &ca, sizeof ca));
  report("mount(tmpfs)", mount("none", "/tmp", "tmpfs", 0, 0));
  report("mount(remount / rw)", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
  report("umount2(/proc/sys)", umount2("/proc/sys", MNT_DETACH));
  report("umount2(/proc/keys)", umount2("/proc/keys", MNT_DETACH));
  report("fsopen(proc)", syscall(SYS_fsopen, "proc", 0));
  report("fsopen(cgroup)", syscall(SYS_fsopen, "cgroup", 0));
  report("open_tree(/proc)", syscall(SYS_open_tree, AT_FDCWD, "/proc", 1));
  report("mount_setattr(/)", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, low + 512, 32));
  report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  report("add_key", syscall(SYS_add_key, "user", "x", "y", 1, -3));
  report("request_key", syscall(SYS_request_key, "user", "x", NULL, 0));
  report("ptrace(ATTACH, 1)", syscall(SYS_ptrace, 16, 1, 0, 0));
  report("process_vm_readv(1)", syscall(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0));
  report("pidfd_getfd", syscall(SYS_pidfd_getfd, 0, 0, 0));
  report("kcmp", syscall(SYS_kcmp, 1, 1, 0, 0, 0));
  report("io_uring_setup", syscall(SYS_io_uring_setup, 8, low + 1024));
  report("bpf", syscall(SYS_bpf, 0, 0, 0));
  report("perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, low, 0));
  report("sethostname", sethostname("pwned", 5));
  report("setdomainname", setdomainname("pwned", 5));
  report("init_module", syscall(SYS_init_module, 0, 0, ""));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
  report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321FEDC, 0));
  report("iopl", syscall(SYS_iopl, 3));
  report("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
  report("personality(READ_IMPLIES_EXEC)", syscall(SYS_personality, 0x0400000));
  report("ioctl(TIOCSTI)", ioctl(0, TIOCSTI, "x"));
  report("ioctl(TIOCSTI|high bits)", syscall(SYS_ioctl, 0, 0xdead00005412L, "x"));
  report("ioctl(TIOCLINUX)", syscall(SYS_ioctl, 0, 0x541C, low));
  report("socket(AF_ALG)", syscall(SYS_socket, 38, 5, 0));
  report("socket(AF_VSOCK)", syscall(SYS_socket, 40, 1, 0));
  report("syslog(READ_ALL)", syscall(SYS_syslog, 3, low, 100));
  report("acct", syscall(SYS_acct, "/tmp/acct"));
  report("settimeofday", syscall(SYS_settimeofday, 0, 0));
  report("swapon", syscall(SYS_swapon, "/tmp", 0));
  report("fanotify_init", syscall(SYS_fanotify_init, 0, 0));
  report("quotactl", syscall(SYS_quotactl, 0, "/", 0, 0));
  report("vhangup", syscall(SYS_vhangup));
  report("clock_settime", syscall(SYS_clock_settime, 0, low + 2048));
  report("fspick(/)", syscall(SYS_fspick, AT_FDCWD, "/", 0));
  report("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/", 0));
  report("finit_module", syscall(SYS_finit_module, 0, "", 0));
  report("delete_module", syscall(SYS_delete_module, "x", 0));
  report("kexec_file_load", syscall(SYS_kexec_file_load, 0, 0, 0, "", 0));
  report("process_madvise", syscall(SYS_process_madvise, 0, 0, 0, 0, 0));
  report("migrate_pages", syscall(SYS_migrate_pages, 1, 0, 0, 0));
  report("move_pages", syscall(SYS_move_pages, 1, 0, 0, 0, 0, 0));
  report("x32 unshare", syscall(0x40000000 | SYS_unshare, CLONE_NEWUSER));
  report("x32 getpid", syscall(0x40000000 | SYS_getpid));
  /* `no-i386`: the kernel has no i386 entry (int 0x80 would segfault): nothing to refuse there. */
  if (argc > 1 && strcmp(argv[1], "no-i386") == 0) return 0;
  /* i386 numbers from arch/x86/entry/syscalls/syscall_32.tbl */
  report_raw("i386 getpid", int80(20, 0, 0, 0, 0, 0));
  report_raw("i386 unshare", int80(310, CLONE_NEWUSER, 0, 0, 0, 0));
  report_raw("i386 setns", int80(346, nsfd, 0, 0, 0, 0));
  report_raw("i386 mount", int80(21, (long)low + 128, (long)low, (long)low + 64, 0, 0));
  report_raw("i386 umount2", int80(52, (long)low, 2, 0, 0, 0));
  report_raw("i386 clone(NEWUSER)", int80(120, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  report_raw("i386 keyctl", int80(288, 0, -3, 0, 0, 0));
  report_raw("i386 ptrace", int80(26, 16, 1, 0, 0, 0));
  report_raw("i386 ioctl(TIOCSTI)", int80(54, 0, 0x5412, (long)low, 0, 0));
  report_raw("i386 io_uring_setup", int80(425, 8, (long)low + 1024, 0, 0, 0));
  report_raw("i386 socketcall", int80(102, 1, (long)low, 0, 0, 0));
  report_raw("i386 socket(AF_ALG)", int80(359, 38, 5, 0, 0, 0));
  report_raw("i386 open_by_handle_at", int80(342, -100, (long)low, 0, 0, 0));
  report_raw("i386 bpf", int80(357, 0, 0, 0, 0, 0));
  report_raw("i386 personality", int80(136, 0x0400000, 0, 0, 0, 0));
  report_raw("i386 sethostname", int80(74, (long)low, 4, 0, 0, 0));
  report_raw("i386 fsopen", int80(430, (long)low + 64, 0, 0, 0, 0));
  report_raw("i386 iopl", int80(110, 3, 0, 0, 0, 0));
  return 0;
}
