// How the program's process reports a failed execve once its seccomp filter is installed.
// After the filter, jailx may make no system call but execve and exit_group: an allow-list
// with `--seccomp-default-action kill` would kill jailx (and errno would make its report fail).
// So the failure goes into memory shared with the supervisor (mapped before clone, inherited by
// init and the program's process; execve drops it from the program), written with plain stores,
// and the process ends with exit_group. The supervisor turns it into the usual message.
import { sharedMemory } from "../sys/proc.ts";

const SIZE = 64 * 1024;
const HEADER = 16;
const FAILED = 0x65786563; // "exec"

export class ExecReport {
  private readonly i32: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(buf: ArrayBuffer = sharedMemory(SIZE)) {
    this.i32 = new Int32Array(buf, 0, HEADER / 4);
    this.bytes = new Uint8Array(buf, HEADER);
  }

  /** Before the filter: the paths execve will try, for the message (UTF-8 JSON, may be cut). */
  setTargets(paths: readonly string[]): void {
    const { written } = new TextEncoder().encodeInto(JSON.stringify(paths), this.bytes);
    this.i32[3] = written;
  }

  /** After the filter: stores only (no allocation, no system call). */
  fail(errno: number, index: number): void {
    this.i32[1] = errno;
    this.i32[2] = index;
    this.i32[0] = FAILED;
  }

  /** In the supervisor. The jail's side wrote it: checked, never trusted for more than a message. */
  read(fallback: string): { errno: number; path: string } | null {
    if (this.i32[0] !== FAILED) return null;
    const errno = this.i32[1]!;
    const index = this.i32[2]!;
    let path = fallback;
    try {
      const n = Math.max(0, Math.min(this.i32[3]!, this.bytes.length));
      const paths: unknown = JSON.parse(new TextDecoder().decode(this.bytes.subarray(0, n)));
      if (Array.isArray(paths) && typeof paths[index] === "string") path = paths[index];
    } catch {
      // cut or garbled: the program's name will do
    }
    return { errno: errno > 0 && errno < 4096 ? errno : 8, path };
  }
}
