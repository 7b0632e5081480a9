// Network: bring the loopback interface of a new network namespace up.
import { c, check, ptr } from "./ffi.ts";

const AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1, IFF_RUNNING = 0x40;

export function loopbackUp(): void {
  const s = check(c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", { flags: "AF_INET" });
  try {
    const ifr = Buffer.alloc(40); // struct ifreq: char name[16]; short flags; …
    ifr.write("lo", 0, "latin1");
    check(c.ioctl(s, SIOCGIFFLAGS, ptr(ifr)), "ioctl", { path: "lo", flags: "SIOCGIFFLAGS" });
    ifr.writeInt16LE(ifr.readInt16LE(16) | IFF_UP | IFF_RUNNING, 16);
    check(c.ioctl(s, SIOCSIFFLAGS, ptr(ifr)), "ioctl", { path: "lo", flags: "SIOCSIFFLAGS" });
  } finally {
    c.close(s);
  }
}
