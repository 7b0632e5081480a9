// Typed messages between the supervisor and the jail's init over a SOCK_SEQPACKET socketpair.
// The jail side is untrusted: the supervisor checks every field before using it.
import { c, check, errno, ptr } from "../sys/ffi.ts";
import { ERRNO } from "../sys/errno.ts";

/** "go": the id maps are written; "placed": the jail's init is in the jail cgroup (if any). */
export type ToChild = { t: "go" } | { t: "placed" };

export type FromChild =
  /** a setup step or the exec failed; the child exits with `exit` */
  | { t: "error"; step: string; message: string; exit: number }
  /** the program has been executed (sent by jailx's init; used by `run -d` and the state record) */
  | { t: "started" }
  /** the program ended (sent by jailx's init, which then exits) */
  | { t: "exit"; code?: number; signal?: number }
  /** jailx learn: the program's process installed the learning filter; its listener is `fd` there */
  | { t: "listener"; fd: number; pid: number };

const AF_UNIX = 1, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0o2000000;

export function channel(): [parent: number, child: number] {
  const fds = new Int32Array(2);
  check(c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ptr(fds)), "socketpair");
  return [fds[0]!, fds[1]!];
}

export function send(fd: number, msg: ToChild | FromChild): void {
  const b = Buffer.from(JSON.stringify(msg));
  c.write(fd, ptr(b), b.length);
}

const buf = Buffer.alloc(65536);

/**
 * One message, or null at EOF (the other side is gone).
 * ECONNRESET is not the end: a peer that exits with a message of ours still unread (the jail
 * failing before it reads "placed") leaves that error pending on our socket, and the kernel
 * reports it before the messages the peer sent us, which are still queued. One read returns
 * the error and clears it; the next returns those messages, then EOF.
 */
export function receive(fd: number): unknown | null {
  for (;;) {
    const n = Number(c.read(fd, ptr(buf), buf.length));
    if (n > 0) {
      try {
        return JSON.parse(buf.subarray(0, n).toString("utf8"));
      } catch {
        return { t: "garbage" };
      }
    }
    if (n === 0) return null;
    const e = errno();
    if (e === ERRNO.EINTR || e === ERRNO.ECONNRESET) continue;
    return null; // anything else is EOF for our purposes
  }
}

/** Validate a message from the jail; anything malformed is dropped. */
export function asFromChild(m: unknown): FromChild | null {
  if (typeof m !== "object" || m === null) return null;
  const r = m as Record<string, unknown>;
  const int = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 256;
  if (r.t === "error" && typeof r.step === "string" && typeof r.message === "string" && int(r.exit))
    return { t: "error", step: clean(r.step), message: clean(r.message), exit: r.exit as number };
  if (r.t === "listener" && typeof r.fd === "string" && /^\d{1,10}$/.test(r.fd) && Number.isInteger(r.pid) && (r.pid as number) > 0)
    return { t: "listener", fd: Number(r.fd), pid: r.pid as number };
  if (r.t === "started") return { t: "started" };
  if (r.t === "exit" && (int(r.code) || int(r.signal)))
    return int(r.code) ? { t: "exit", code: r.code as number } : { t: "exit", signal: r.signal as number };
  return null;
}

/** Strip control characters (terminal escapes) from text the jail sends us. */
function clean(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, "?").slice(0, 2000);
}
