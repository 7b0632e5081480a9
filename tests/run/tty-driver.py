# Drives `jailx run` on a pseudo-terminal like a person would: waits for the program's "ready",
# types Ctrl-C, waits for the program to say it got SIGINT, then types "q" so it ends.
# Prints "exit=<status> ints=<how many SIGINTs the program saw>". Usage: tty-driver.py JAILX
import os, pty, select, sys, time

PROGRAM = "trap 'echo got-INT' INT; echo ready; while :; do read x || continue; [ \"$x\" = q ] && break; done; exit 3"

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["jailx", "run", "--", "/bin/sh", "-c", PROGRAM])

buf = b""

def until(token, seconds=30):
    global buf
    end = time.time() + seconds
    while token not in buf and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                buf += os.read(fd, 1024)
            except OSError:
                return

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
        buf += more
except OSError:
    pass
print("exit=%d ints=%d" % (os.waitstatus_to_exitcode(status), buf.count(b"got-INT")))
