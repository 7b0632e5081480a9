// Jail side of learning: the program's process installs the learning filter as its very last
// step before execve and tells the supervisor which descriptor holds the listener. The
// supervisor then takes the listener out of this process with pidfd_getfd (jail/learn/session.ts).
//
// Between the install and the message this process must make no syscall the filter stops: it
// would wait for a supervisor that does not have the listener yet. So the message is built
// before the install (the descriptor number is filled in place) and the FFI trampoline for
// write is bound before it too (binding one later may map memory); the filter lets exactly this
// write through (jail/learn/filter.ts).
import { c, ptr } from "../../sys/ffi.ts";
import { installWithListener } from "../../sys/seccomp/notify.ts";
import { setDumpable } from "../../sys/proc.ts";

const PLACEHOLDER = "0000000000";

export function installLearnFilter(prog: Buffer, sock: number): void {
  const msg = Buffer.from(JSON.stringify({ t: "listener", fd: PLACEHOLDER, pid: c.getpid() }));
  const at = msg.indexOf(PLACEHOLDER);
  const write = c.write;
  // The supervisor takes the listener with pidfd_getfd, which needs ptrace access. This process
  // is non-dumpable (inherited from init) and its memory still belongs to the host's user
  // namespace until execve, so a rootless supervisor would be refused. Nothing else in the jail
  // runs yet that could use the moment, and execve sets the flag anew for the program anyway.
  setDumpable(true);
  const fd = installWithListener(prog);
  let n = fd;
  for (let i = PLACEHOLDER.length - 1; i >= 0; i--, n = Math.floor(n / 10)) msg[at + i] = 0x30 + (n % 10);
  write(sock, ptr(msg), msg.length);
}
