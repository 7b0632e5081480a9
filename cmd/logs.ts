// `jailx logs NAME [-f]`: the output of a detached jail (running or recently exited); -f follows
// it until the jail ends.
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { defineCommand } from "citty";
import { UsageError } from "../sys/errors.ts";
import { closeFd } from "../sys/proc.ts";
import { exitedPath, judge, logPath, readEntry, shown, stateDir, validateName } from "../jail/state.ts";

function copyFrom(path: string, offset: number): number {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return offset;
  }
  try {
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) return offset;
      process.stdout.write(buf.subarray(0, n));
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
}

function running(dir: string, name: string): boolean {
  const e = readEntry(dir, name);
  if (!e) return false;
  const j = judge(e);
  if (j.kind === "live") closeFd(j.pidfd);
  return j.kind !== "stale";
}

const inode = (p: string) => (existsSync(p) ? statSync(p).ino : -1);

export default defineCommand({
  meta: { name: "logs", description: "show the output of a detached jail" },
  args: {
    name: { type: "positional", required: true, description: "the jail's name" },
    follow: { type: "boolean", alias: "f", description: "keep printing new output until the jail ends" },
    verbose: { type: "boolean", description: "show stack traces" },
  },
  async run({ args }) {
    const name = validateName(args.name);
    const dir = stateDir(false);
    const log = dir ? logPath(dir, name) : "";
    if (!dir || (!existsSync(log) && !existsSync(exitedPath(dir, name)))) {
      const e = dir ? readEntry(dir, name) : null;
      if (e && !e.detached) throw new UsageError(`jail ${shown(name)} runs in the foreground: its output goes to its own terminal`);
      throw new UsageError(`no detached jail named ${shown(name)} (see 'jailx ps -a')`);
    }
    copyFrom(`${log}.1`, 0);
    let ino = inode(log);
    let offset = copyFrom(log, 0);
    if (!args.follow) return;
    for (;;) {
      const alive = running(dir, name);
      offset = copyFrom(log, offset);
      const now = inode(log);
      if (now !== ino) {
        // rotated: the old file is now log.1; print its tail, then the new file from the start
        copyFrom(`${log}.1`, offset);
        ino = now;
        offset = copyFrom(log, 0);
      }
      if (!alive) {
        // the writer may still drain the last output: read once more after it ends
        offset = copyFrom(log, offset);
        return;
      }
      await Bun.sleep(100);
    }
  },
});
