# Job control on a pseudo-terminal, as in a shell: a minimal job-control shell on the terminal
# runs jailx as a foreground job in its own process group. The command under jailx prints the
# terminal's size on SIGWINCH. The driver resizes the terminal (the kernel signals the foreground
# group), types Ctrl-Z (the group stops: jailx with its program, so the shell sees its job
# stopped), the shell continues the job in the foreground (`fg`), the driver types a line, then
# "q". Prints what it saw, one word a line. Usage: tty-job.py JAILX ARGS... (the jailx command
# line before the program; the program is appended).
import fcntl, os, pty, signal, struct, sys, termios
from ptyutil import Reader

# (python3: its reads are restarted after a stop, where dash's read builtin gives up)
PROGRAM = """import os, signal, sys
signal.signal(signal.SIGWINCH, lambda *_: print("winch %d %d" % os.get_terminal_size()[::-1], flush=True))
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "q":
        sys.exit(5)
    print("got-" + line.strip(), flush=True)
sys.exit(6)
"""

pid, fd = pty.fork()
if pid == 0:
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    job = os.fork()
    if job == 0:
        os.setpgid(0, 0)
        os.execv(sys.argv[1], ["jailx", *sys.argv[2:], "/usr/bin/python3", "-c", PROGRAM])
    os.setpgid(job, job)
    os.tcsetpgrp(0, job)
    _, st = os.waitpid(job, os.WUNTRACED)
    os.tcsetpgrp(0, os.getpgrp())
    print("job-stopped" if os.WIFSTOPPED(st) else "job-ended-%d" % st, flush=True)
    os.tcsetpgrp(0, job)
    os.killpg(job, signal.SIGCONT)
    _, st = os.waitpid(job, 0)
    print("exit=%d" % os.waitstatus_to_exitcode(st), flush=True)
    os._exit(0)

pty_out = Reader(fd)
until = pty_out.until

def say(ok, word):
    print(word if ok else "no-" + word, flush=True)
    if not ok:
        print(repr(pty_out.buf[-300:]), file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        sys.exit(1)

say(until(b"ready"), "ready")
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
say(until(b"winch 33 77"), "resized")
os.write(fd, b"\x1a")
say(until(b"job-stopped") or until(b"job-ended"), "stopped")
say(b"job-stopped" in pty_out.buf, "stopped-not-ended")
os.write(fd, b"hello\n")
say(until(b"got-hello"), "continued")
os.write(fd, b"q\n")
say(until(b"exit=5"), "exit=5")
os.waitpid(pid, 0)
