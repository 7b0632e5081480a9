// Seccomp probe: runs each named case in a forked child (so a case that succeeds, e.g.
// unshare, cannot change the next one) and prints "case=RESULT" where RESULT is OK, an errno
// name, or SIG<n> when the child was killed. Arguments are chosen so that, without a filter,
// each call fails harmlessly (bad pointers, bad magic) or has no lasting effect.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define X32_BIT 0x40000000L

// i386 entry through int 0x80 from a 64-bit process; returns -errno like the kernel does.
static long int80(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

static long tiocsti(unsigned long request) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) return -1;
  int s = open(ptsname(m), O_RDWR | O_NOCTTY);
  if (s < 0) return -1;
  char ch = 'x';
  return syscall(SYS_ioctl, s, request, &ch);
}

static long run_case(const char *n) {
  if (!strcmp(n, "getppid")) return syscall(SYS_getppid);
  if (!strcmp(n, "mount")) return syscall(SYS_mount, "/nonexistent-src", "/nonexistent-dst", "none", 0, 0);
  if (!strcmp(n, "umount2")) return syscall(SYS_umount2, "/nonexistent-dst", 0);
  if (!strcmp(n, "unshare")) return syscall(SYS_unshare, CLONE_NEWUSER);
  if (!strcmp(n, "setns")) return syscall(SYS_setns, -1, 0);
  if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, -1, 0, 0, 0, 0);
  if (!strcmp(n, "add_key")) return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
  if (!strcmp(n, "request_key")) return syscall(SYS_request_key, NULL, NULL, NULL, 0);
  if (!strcmp(n, "bpf")) return syscall(SYS_bpf, -1, NULL, 0);
  if (!strcmp(n, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
  if (!strcmp(n, "userfaultfd")) return syscall(SYS_userfaultfd, -1);
  if (!strcmp(n, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, NULL);
  if (!strcmp(n, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, -1, NULL, 0);
  if (!strcmp(n, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, -1);
  if (!strcmp(n, "init_module")) return syscall(SYS_init_module, NULL, 0, NULL);
  if (!strcmp(n, "finit_module")) return syscall(SYS_finit_module, -1, NULL, 0);
  if (!strcmp(n, "swapon")) return syscall(SYS_swapon, "/nonexistent-swap", 0);
  if (!strcmp(n, "reboot")) return syscall(SYS_reboot, 0, 0, 0, NULL); // bad magic: EINVAL unfiltered
  if (!strcmp(n, "ptrace")) return syscall(SYS_ptrace, 0x7fff, 0, 0, 0); // unknown request: EIO unfiltered
  if (!strcmp(n, "clone_newuser")) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid(r, NULL, 0);
    return r;
  }
  if (!strcmp(n, "clone_plain")) {
    long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid(r, NULL, 0);
    return r > 0 ? 0 : r;
  }
  if (!strcmp(n, "clone3")) return syscall(SYS_clone3, NULL, 0);
  if (!strcmp(n, "socket_alg")) return syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0);
  if (!strcmp(n, "socket_alg_highbits")) return syscall(SYS_socket, 0x100000000L | AF_ALG, SOCK_SEQPACKET, 0);
  if (!strcmp(n, "socket_vsock")) return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
  if (!strcmp(n, "socket_unix")) return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
  if (!strcmp(n, "tiocsti")) return tiocsti(TIOCSTI);
  if (!strcmp(n, "tioclinux")) return tiocsti(TIOCLINUX);
  if (!strcmp(n, "tiocsti_highbits")) return tiocsti(0xdead00000000UL | TIOCSTI);
  if (!strcmp(n, "personality_bad")) return syscall(SYS_personality, 0x0400000); // READ_IMPLIES_EXEC
  // The i386 ABI via int 0x80 (numbers from asm/unistd_32.h).
  long r;
  if (!strcmp(n, "i386_getpid")) r = int80(20, 0, 0, 0);
  else if (!strcmp(n, "i386_mount")) r = int80(21, 0, 0, 0);
  else if (!strcmp(n, "i386_unshare")) r = int80(310, CLONE_NEWUSER, 0, 0);
  else if (!strcmp(n, "i386_reboot")) r = int80(88, 0, 0, 0);
  else if (!strcmp(n, "i386_keyctl")) r = int80(288, -1, 0, 0);
  else if (!strcmp(n, "i386_socket_alg")) r = int80(359, AF_ALG, SOCK_SEQPACKET, 0);
  else if (!strcmp(n, "i386_socketcall")) r = int80(102, 1, 0, 0);
  // The x32 ABI: x86_64 numbers with bit 30 set (asm/unistd_x32.h).
  else if (!strcmp(n, "x32_getpid")) return syscall(X32_BIT | 39);
  else if (!strcmp(n, "x32_mount")) return syscall(X32_BIT | 165, 0, 0, 0, 0, 0);
  else { fprintf(stderr, "probe: unknown case %s\n", n); exit(2); }
  if (r < 0 && r > -4096) { errno = -r; return -1; }
  return r;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (int i = 1; i < argc; i++) {
    int fd[2];
    if (pipe(fd)) return 1;
    pid_t pid = fork();
    if (pid < 0) { printf("%s=fork:%s\n", argv[i], strerrorname_np(errno)); continue; }
    if (pid == 0) {
      close(fd[0]);
      long r = run_case(argv[i]);
      char line[128];
      int len = r < 0 ? snprintf(line, sizeof line, "%s=%s\n", argv[i], strerrorname_np(errno))
                      : snprintf(line, sizeof line, "%s=OK\n", argv[i]);
      write(fd[1], line, len);
      _exit(0);
    }
    close(fd[1]);
    char buf[256];
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) printf("%s=SIG%d\n", argv[i], WTERMSIG(st));
    else if (n > 0) { buf[n] = 0; fputs(buf, stdout); }
    else printf("%s=NORESULT\n", argv[i]);
  }
  return 0;
}
