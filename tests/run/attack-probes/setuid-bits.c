// Attack probe: every syscall path that can put a setuid/setgid bit on a file, tried on /x
// (a --bind directory). Includes the variants a filter can miss: high bits in the mode
// argument, fchmodat2 (also with AT_EMPTY_PATH), mknod of a regular file, and openat2 (its
// mode sits in a struct). Prints `name=OK|errno:N` lines and the final mode of /x/f.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static void report(const char *name, long r) {
  if (r < 0) printf("%s=errno:%d\n", name, errno);
  else printf("%s=OK\n", name);
}

int main(void) {
  int fd = open("/x/f", O_CREAT | O_WRONLY, 0755);
  if (fd < 0) return 2;
  close(fd);
  fd = open("/x/f", O_RDONLY);
  /* struct open_how { flags, mode, resolve } */
  unsigned long long how[3] = {O_CREAT | O_WRONLY, 04755, 0};
  report("chmod", syscall(SYS_chmod, "/x/f", 04755));
  report("chmod(setgid)", syscall(SYS_chmod, "/x/f", 02755));
  report("chmod(high bits)", syscall(SYS_chmod, "/x/f", 0x100000000L | 04755));
  report("chmod(bit 16)", syscall(SYS_chmod, "/x/f", 0x10000 | 04755));
  report("fchmod", syscall(SYS_fchmod, fd, 04755));
  report("fchmodat", syscall(SYS_fchmodat, AT_FDCWD, "/x/f", 04755));
  report("fchmodat2", syscall(SYS_fchmodat2, AT_FDCWD, "/x/f", 04755, 0));
  report("fchmodat2(AT_EMPTY_PATH)", syscall(SYS_fchmodat2, fd, "", 04755, AT_EMPTY_PATH));
  report("open(O_CREAT)", syscall(SYS_open, "/x/g", O_CREAT | O_WRONLY, 04755));
  report("openat(O_CREAT)", syscall(SYS_openat, AT_FDCWD, "/x/h", O_CREAT | O_WRONLY, 04755));
  report("openat2(O_CREAT)", syscall(SYS_openat2, AT_FDCWD, "/x/l", how, sizeof how));
  report("creat", syscall(SYS_creat, "/x/i", 04755));
  report("mknod(S_IFREG)", syscall(SYS_mknod, "/x/j", S_IFREG | 04755, 0));
  report("mknodat(S_IFREG)", syscall(SYS_mknodat, AT_FDCWD, "/x/k", S_IFREG | 04755, 0));
  struct stat st;
  if (fstat(fd, &st) != 0) return 2;
  printf("mode=%o\n", st.st_mode & 07777);
  return 0;
}
