// Which /etc paths a jail hides (jail/etc-view.ts): pure logic against a table of modes.
import { describe, expect, test } from "bun:test";
import { etcHidden, otherCannotRead, type ModeEntry } from "../../jail/etc-view.ts";

const DIR = 0o040000, FILE = 0o100000, LINK = 0o120000;
/** A fake /etc: relative path → st_mode. */
const TREE: Record<string, number> = {
  "passwd": FILE | 0o644, "shadow": FILE | 0o640, "pg_hba.conf": FILE | 0o640, "motd": FILE | 0o644,
  "ssl": DIR | 0o755, "ssl/certs": DIR | 0o755, "ssl/certs/ca.pem": FILE | 0o644, "ssl/private": DIR | 0o710,
  "ssl/private/key.pem": FILE | 0o600, "secret.d": DIR | 0o700, "secret.d/a.conf": FILE | 0o644, "secret.d/b.conf": FILE | 0o644,
  "listonly": DIR | 0o711, "listonly/open": FILE | 0o644, "listonly/closed": FILE | 0o600,
  "link": LINK | 0o777, "sudoers.d": DIR | 0o750, "sudoers.d/x": FILE | 0o440, "letsencrypt": DIR | 0o755, "letsencrypt/live": DIR | 0o755,
};
const list = (dir: string): ModeEntry[] | null => {
  const rel = dir === "/etc" ? "" : dir.slice(5);
  if (rel && (TREE[rel]! & 0o170000) !== DIR) return null;
  return Object.keys(TREE).filter((p) => (rel ? p.startsWith(rel + "/") && !p.slice(rel.length + 1).includes("/") : !p.includes("/")))
    .map((p) => ({ name: p.slice(rel ? rel.length + 1 : 0), mode: TREE[p]! }));
};
const hidden = (o: { names?: string[]; keep?: string[]; byMode?: boolean } = {}) =>
  etcHidden({ root: "/etc", names: o.names ?? ["shadow", "sudoers.d", "letsencrypt"], keep: o.keep ?? [], byMode: o.byMode ?? true, list });

describe("by mode", () => {
  test("files without o+r and directories without o+x are hidden; names first, then the walk's finds, sorted", () => {
    expect(hidden()).toEqual(["shadow", "sudoers.d", "letsencrypt", "listonly/closed", "pg_hba.conf", "secret.d", "ssl/private"]);
  });
  test("a directory with o+x but no o+r is walked, not hidden; a symlink is never judged by its own mode", () => {
    expect(otherCannotRead(DIR | 0o711)).toBe(false);
    expect(otherCannotRead(LINK | 0o000)).toBe(false);
    expect(otherCannotRead(FILE | 0o604)).toBe(false);
    expect(otherCannotRead(FILE | 0o640)).toBe(true);
  });
  test("without the walk (user namespace): names only", () => {
    expect(hidden({ byMode: false })).toEqual(["shadow", "sudoers.d", "letsencrypt"]);
  });
});

describe("explicit binds", () => {
  test("a bound file is not hidden, by mode or by name", () => {
    expect(hidden({ keep: ["pg_hba.conf", "shadow"] })).not.toContain("pg_hba.conf");
    expect(hidden({ keep: ["shadow"] })).not.toContain("shadow");
  });
  test("a bind inside a hidden directory: the directory stays, its other entries are hidden", () => {
    const h = hidden({ keep: ["secret.d/a.conf", "sudoers.d/y"] });
    expect(h).toContain("secret.d/b.conf");
    expect(h).not.toContain("secret.d");
    expect(h).not.toContain("secret.d/a.conf");
    expect(h).toContain("sudoers.d/x");
    expect(h).not.toContain("sudoers.d");
  });
  test("without the walk, a name that is an ancestor or a descendant of a bind is dropped", () => {
    expect(hidden({ byMode: false, keep: ["letsencrypt/live/x"] })).toEqual(["shadow", "sudoers.d"]);
  });
  test("nothing in the list lies beneath another entry", () => {
    const h = hidden({ names: ["shadow", "secret.d/a.conf", "ssl/private/key.pem"] });
    expect(h).toContain("secret.d");
    expect(h).not.toContain("secret.d/a.conf");
    expect(h).not.toContain("ssl/private/key.pem");
  });
});
