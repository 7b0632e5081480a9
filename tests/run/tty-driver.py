# Drives `jailx run` on a pseudo-terminal like a person would: waits for the program's "ready",
# types Ctrl-C, waits for the program to say it got SIGINT, then types "q" so it ends.
# Prints "exit=<status> ints=<how many SIGINTs the program saw>". Usage: tty-driver.py JAILX
import os, pty, sys
from ptyutil import Reader

PROGRAM = "trap 'echo got-INT' INT; echo ready; while :; do read x || { [ $? -gt 128 ] && continue; break; }; [ \"$x\" = q ] && break; done; exit 3"

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["jailx", "run", "--", "/bin/sh", "-c", PROGRAM])

pty_out = Reader(fd)
until = pty_out.until

until(b"ready")
os.write(fd, b"\x03")
until(b"got-INT")
os.write(fd, b"q\n")
_, status = os.waitpid(pid, 0)
try:
    while True:
        more = os.read(fd, 1024)
        if not more:
            break
        pty_out.buf += more
except OSError:
    pass
print("exit=%d ints=%d" % (os.waitstatus_to_exitcode(status), pty_out.buf.count(b"got-INT")))
