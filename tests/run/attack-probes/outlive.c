// Attack probe: try to outlive the supervisor. Clears its own parent-death signal (needs no
// privilege), ignores SIGHUP, and — unless run as `outlive self` — double-forks into a new
// session whose grandchild does the same. Prints "ready" once every process exists, then waits.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void detach(void) {
  prctl(PR_SET_PDEATHSIG, 0);
  signal(SIGHUP, SIG_IGN);
}

int main(int argc, char **argv) {
  detach();
  if (argc > 1 && strcmp(argv[1], "self") == 0) {
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
  }
  int ready[2];
  if (pipe(ready) != 0) return 2;
  if (fork() == 0) {
    setsid();
    if (fork() == 0) {
      detach();
      close(ready[0]);
      if (write(ready[1], "x", 1) != 1) return 2;
      for (;;) pause();
    }
    _exit(0);
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) return 2;
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
