// Which /etc paths a jail hides (jail/etc-view.ts): pure logic against a table of modes.
import { describe, expect, test } from "bun:test";
import { etcHidden, otherCannotRead, type ModeEntry } from "../../jail/etc-view.ts";
import { parseWalk } from "../../jail/stage/walk.ts";

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

describe("parseWalk (the helper's listing of a tree, jail/stage/walk.ts)", () => {
  const rec = (mode: number, rel: string) => `${mode.toString(8).padStart(6, "0")} ${rel}\0`;
  test("records become listings per directory; every directory is listed, empty ones too", () => {
    const text = rec(0o040755, "a") + rec(0o100600, "a/key") + rec(0o040700, "a/empty") + rec(0o100640, "top") + "end\0";
    const dirs = parseWalk("/etc", text)!;
    expect([...dirs.keys()].sort()).toEqual(["/etc", "/etc/a", "/etc/a/empty"]);
    expect(dirs.get("/etc")).toEqual([{ name: "a", mode: 0o040755 }, { name: "top", mode: 0o100640 }]);
    expect(dirs.get("/etc/a")).toEqual([{ name: "key", mode: 0o100600 }, { name: "empty", mode: 0o040700 }]);
    expect(dirs.get("/etc/a/empty")).toEqual([]);
  });
  test("a walk cut short (no end mark), a bad record, or an entry before its directory: null", () => {
    expect(parseWalk("/etc", rec(0o100600, "x"))).toBeNull();
    expect(parseWalk("/etc", rec(0o100600, "x") + "end")).toBeNull();
    expect(parseWalk("/etc", "100600x\0end\0")).toBeNull();
    expect(parseWalk("/etc", rec(0o100600, "a/key") + rec(0o040755, "a") + "end\0")).toBeNull();
    expect(parseWalk("/etc", "end\0")).toEqual(new Map([["/etc", []]])); // control: an empty tree
  });
});

test("a listing without the non-directories others can read (the helper's omit=4) hides the same, without kept binds", () => {
  const filtered = (dir: string) => list(dir)?.filter((e) => (e.mode & 0o170000) === DIR || (e.mode & 0o004) === 0) ?? null;
  for (const names of [["shadow", "sudoers.d", "letsencrypt"], ["motd", "ssl/certs/ca.pem"], []]) {
    const full = etcHidden({ root: "/etc", names, keep: [], byMode: true, list });
    expect(etcHidden({ root: "/etc", names, keep: [], byMode: true, list: filtered })).toEqual(full);
  }
  // control: with a kept bind inside a hidden directory its readable siblings matter, so the
  // plan walks with the host's own lister there (jail/mounts.ts)
  const keep = ["secret.d/a.conf"];
  expect(etcHidden({ root: "/etc", names: [], keep, byMode: true, list: filtered })).not.toEqual(etcHidden({ root: "/etc", names: [], keep, byMode: true, list }));
});
