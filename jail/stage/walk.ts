// The /etc walk of a root jail (jail/etc-view.ts: one statx per entry, ~4 ms of kernel time on
// a usual /etc) done by the embedded helper (`walk` mode, jail/stage/helper.c) on the other CPU
// while this process goes on planning, creating the cgroup and cloning; the listing is read
// when the hide list is first needed (compiling the jail). The helper only lists: what to hide
// is decided by etcHidden, as without it.
import * as proc from "../../sys/proc.ts";
import { helperMemfd, stageUsable } from "../../sys/stage.ts";
import type { ModeEntry } from "../etc-view.ts";
import { spawnHelper } from "./parent-kernel.ts";

/** Non-directories whose mode has these bits (o+r) are left out of the listing. */
const OMIT = 0o004;

/**
 * Parses the helper's records ("MMMMMM relative/path\0"..., then "end\0") into listings per
 * directory (absolute paths), every listed directory present; null when the walk is incomplete.
 */
export function parseWalk(root: string, text: string): Map<string, ModeEntry[]> | null {
  const recs = text.split("\0");
  // A complete walk ends with the "end" record (and the empty string after its NUL).
  if (recs.length < 2 || recs[recs.length - 1] !== "" || recs[recs.length - 2] !== "end") return null;
  const dirs = new Map<string, ModeEntry[]>([[root, []]]);
  for (let i = 0; i < recs.length - 2; i++) {
    const r = recs[i]!;
    if (r.length < 8 || r.charCodeAt(6) !== 32) return null;
    const mode = parseInt(r.slice(0, 6), 8);
    const slash = r.lastIndexOf("/");
    const dir = slash < 7 ? root : `${root}/${r.slice(7, slash)}`;
    const list = dirs.get(dir);
    if (!list) return null; // a directory's entries come after the directory itself
    list.push({ name: r.slice(slash < 7 ? 7 : slash + 1), mode });
    if ((mode & 0o170000) === 0o040000) dirs.set(`${dir}/${list.at(-1)!.name}`, []);
  }
  return dirs;
}

/**
 * Starts the walk of `root` in the helper, or returns null where the helper cannot run. The
 * lister it returns leaves out non-directories the host's "other" can read: etcHidden needs
 * none of them unless a bind beneath `root` is kept (then walk with the host's own lister).
 * Where the walk fails, the lister answers undefined and the caller lists by itself.
 */
export function walkInHelper(root: string): ((dir: string) => ModeEntry[] | null | undefined) | null {
  if (!stageUsable()) return null;
  const [r, w] = proc.pipe();
  let pid: number;
  try {
    pid = spawnHelper(helperMemfd(), ["jailx-walk", "walk", `dir=${root}`, `out=${w}`, `omit=${OMIT}`], [w]);
  } catch {
    proc.closeFd(r);
    return null;
  } finally {
    proc.closeFd(w);
  }
  let dirs: Map<string, ModeEntry[]> | null | undefined;
  return (dir) => {
    if (dirs === undefined) {
      const text = proc.readToEnd(r);
      proc.closeFd(r);
      dirs = proc.waitPid(pid)?.code === 0 ? parseWalk(root, text) : null;
    }
    return dirs ? (dirs.get(dir) ?? null) : undefined;
  };
}
