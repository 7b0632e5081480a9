# Reading a pseudo-terminal's master side until some text shows up (bounded): shared by the
# terminal drivers of the tests (tty-driver.py, tty-job.py).
import os, select, time


class Reader:
    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def until(self, token, seconds=30):
        """Read until `token` is in what was read, at most `seconds`; False at EOF or timeout."""
        end = time.time() + seconds
        while token not in self.buf and time.time() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.buf += os.read(self.fd, 1024)
                except OSError:
                    return False
        return token in self.buf
