// Which capability an access needed because of file permissions (discretionary access control):
// root reading another user's 0600 file needs CAP_DAC_OVERRIDE; root changing the mode or times
// of a file it does not own needs CAP_FOWNER. Pure: tests/learn/profile.test.ts.
import { readFileSync } from "node:fs";

export interface Creds {
  fsuid: number;
  fsgid: number;
  groups: number[];
}

export const PERM = { R: 4, W: 2, X: 1 } as const;

/** The thread's filesystem ids from /proc/TID/status (kernel-written text); null when gone. */
export function credsOf(tid: number): Creds | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${tid}/status`, "utf8");
  } catch {
    return null;
  }
  const ids = (key: string) => (new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1] ?? "").trim().split(/\s+/).filter(Boolean).map(Number);
  const uid = ids("Uid"), gid = ids("Gid");
  if (uid.length < 4 || gid.length < 4) return null;
  return { fsuid: uid[3]!, fsgid: gid[3]!, groups: ids("Groups") };
}

/** True when everyone may do `need` (so nobody's ids matter): the common case, no /proc read. */
export function openToAll(mode: number, need: number): boolean {
  return (mode & need) === need;
}

/**
 * The capability a permission check needed: dac_override when the ids alone would not allow
 * `need` (rwx bits) and the thread is root; null otherwise (allowed, or refused while learning
 * too: a non-root thread without the capability was refused, and stays refused).
 */
export function dacNeeded(mode: number, owner: number, group: number, need: number, c: Creds): "dac_override" | null {
  const cls = c.fsuid === owner ? 6 : c.fsgid === group || c.groups.includes(group) ? 3 : 0;
  if (((mode >> cls) & need) === need) return null;
  return c.fsuid === 0 ? "dac_override" : null;
}

/** Changing the mode, times or extended attributes of a file someone else owns, as root. */
export function fownerNeeded(owner: number, c: Creds): "fowner" | null {
  return c.fsuid === 0 && owner !== 0 ? "fowner" : null;
}
