// Which paths under /etc a jail must not see (pure logic; the host is read through a lister).
//
// Two rules, both turned into whiteouts of the /etc overlay (jail/child.ts hiddenView):
// - by name (ETC_HIDDEN): secrets whatever their mode, in every jail;
// - by mode, in jails whose root is the host's root (no user namespace): every entry the host's
//   "other" class cannot read — a file without o+r, a directory without o+x (its whole subtree).
//   Root in such a jail owns these files (and keeps CAP_DAC_OVERRIDE), so only hiding stops it.
//   A hide list by name cannot keep up with what hosts hold (pg_hba.conf, apt auth files,
//   backup copies of shadow, private keys of any service). With a user namespace root inside is
//   an unprivileged host id and the kernel's permission checks already refuse these files.
// A path the user binds explicitly (--bind/--ro-bind with a destination under /etc) is never
// hidden; its ancestors stay visible, and inside a hidden ancestor every other entry is hidden.

/** An entry of a directory listing: its name and st_mode (type bits included), not following symlinks. */
export interface ModeEntry {
  name: string;
  mode: number;
}

/** Lists a directory of the host; null when it cannot be read. */
export type ModeLister = (dir: string) => ModeEntry[] | null;

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;
const O_READ = 0o4, O_EXEC = 0o1;

const under = (path: string, top: string) => path === top || path.startsWith(top + "/");

/** Whether the host's "other" class cannot use this entry (symlinks: judged by their target's entry). */
export function otherCannotRead(mode: number): boolean {
  const type = mode & S_IFMT;
  if (type === S_IFLNK) return false;
  if (type === S_IFDIR) return (mode & O_EXEC) === 0;
  return (mode & O_READ) === 0;
}

export interface EtcHideInput {
  /** the host directory (normally /etc) */
  root: string;
  /** ETC_HIDDEN names present on the host, relative to root */
  names: readonly string[];
  /** destinations of the user's binds beneath root, relative to root */
  keep: readonly string[];
  /** also hide what the host's "other" cannot read (a walk of root) */
  byMode: boolean;
  list: ModeLister;
}

/**
 * Paths relative to `root` to hide: the names first (in their given order), then what the walk
 * found (sorted). No path lies beneath another one of the list.
 */
export function etcHidden(input: EtcHideInput): string[] {
  const { root, names, keep, byMode, list } = input;
  const conflicts = (p: string) => keep.some((k) => under(p, k) || under(k, p));
  if (!byMode) return names.filter((n) => !conflicts(n));
  const nameSet = new Set(names);
  const found: string[] = [];
  const visit = (rel: string, forced: boolean) => {
    const entries = list(rel ? `${root}/${rel}` : root);
    if (entries === null) return;
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (keep.some((k) => under(p, k))) continue; // the user's bind covers it
      const secret = forced || nameSet.has(p) || otherCannotRead(e.mode);
      if (keep.some((k) => under(k, p))) {
        // A bind's ancestor must stay; inside a secret one, hide every other entry.
        if ((e.mode & S_IFMT) === S_IFDIR) visit(p, secret);
        continue;
      }
      if (secret) {
        if (!nameSet.has(p)) found.push(p);
      } else if ((e.mode & S_IFMT) === S_IFDIR) visit(p, false);
    }
  };
  visit("", false);
  // A whiteout hides its whole subtree: drop what lies beneath another entry.
  const all = [...names.filter((n) => !conflicts(n)), ...found.sort()];
  const set = new Set(all);
  const beneathAnother = (p: string) => {
    for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) if (set.has(p.slice(0, i))) return true;
    return false;
  };
  return [...set].filter((p) => !beneathAnother(p));
}
