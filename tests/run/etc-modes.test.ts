// Root-only files under /etc: a root jail (no user namespace) owns them, so /etc hides every
// entry the host's "other" class cannot read, not only the names of the hide list.
// The host's real /etc is never touched: each test runs jailx in a private mount namespace of its
// own (unshare -m) where a scratch directory stands in for /etc.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { jailx, lines } from "../helpers/jail.ts";

let etc: string;

/** Path → [content, mode]; directories are created 0755 unless listed in DIRS. */
const FILES: Record<string, [string, number]> = {
  "xpra/ssl-cert.pem": ["xpra-private-key", 0o600],
  "pg_hba.conf": ["pg-hba-secret", 0o640],
  "apt/auth.conf.d/x.conf": ["apt-password", 0o600],
  "shadow.bak": ["shadow-backup-hash", 0o600],
  "private-dir/inside.conf": ["inside-a-0700-dir", 0o644],
  "private-dir/sibling.conf": ["sibling-in-0700-dir", 0o644],
  // controls: other-readable files next to the secrets
  "readable.conf": ["readable-1", 0o644],
  "apt/auth.conf.d/readable.conf": ["readable-2", 0o644],
  "xpra/xpra.conf": ["readable-3", 0o644],
  // beneath a host mount inside /etc (bound again on top of the overlay: whiteouts can't reach it)
  "mounted/secret.key": ["secret-in-a-submount", 0o600],
  "mounted/open.conf": ["readable-4", 0o644],
};
const DIRS: Record<string, number> = { "private-dir": 0o700 };
const SECRETS = ["xpra/ssl-cert.pem", "pg_hba.conf", "apt/auth.conf.d/x.conf", "shadow.bak", "private-dir/inside.conf", "private-dir/sibling.conf", "mounted/secret.key"];
const CONTROLS = ["readable.conf", "apt/auth.conf.d/readable.conf", "xpra/xpra.conf", "mounted/open.conf"];

beforeAll(() => {
  etc = mkdtempSync("/tmp/jx-etc-modes-");
  chmodSync(etc, 0o755);
  for (const f of ["passwd", "group", "hostname", "nsswitch.conf", "ld.so.cache"])
    if (existsSync(`/etc/${f}`)) writeFileSync(`${etc}/${f}`, readFileSync(`/etc/${f}`));
  for (const [rel, [text, mode]] of Object.entries(FILES)) {
    const dir = `${etc}/${rel}`.replace(/\/[^/]+$/, "");
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${etc}/${rel}`, text + "\n");
    chmodSync(`${etc}/${rel}`, mode);
  }
  for (const [rel, mode] of Object.entries(DIRS)) chmodSync(`${etc}/${rel}`, mode);
});
afterAll(() => {
  rmSync(etc, { recursive: true, force: true });
});

/** jailx with the scratch /etc bound over /etc, and /etc/mounted bound on itself (a host mount beneath /etc), in a private mount namespace. */
function inScratchEtc(args: string[]) {
  const wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
    'mount --bind "$0" /etc && mount --bind "$0/mounted" /etc/mounted && exec "$@"', etc];
  return jailx(args, { wrap });
}

/** For each path: "<path> <first line of content or the error>". */
function readEach(paths: string[], flags: string[] = []) {
  const script = paths.map((p) => `printf '%s %s\\n' ${p} "$(head -n1 /etc/${p} 2>&1 | sed 's/.*: //')"`).join("; ");
  const r = inScratchEtc(["run", ...flags, "--", "/bin/sh", "-c", script]);
  expect(r.stderr).toBe("");
  return new Map(lines(r.stdout).map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]));
}

describe("a default root jail", () => {
  test("cannot read any file under /etc that the host's other class cannot read (ENOENT); other-readable files next to them it can", () => {
    const seen = readEach([...SECRETS, ...CONTROLS]);
    // Beneath a host mount inside /etc the whiteout cannot reach: /dev/null masks it (empty).
    for (const s of SECRETS) expect(`${s}: ${seen.get(s)}`).toBe(`${s}: ${s.startsWith("mounted/") ? "" : "No such file or directory"}`);
    for (const c of CONTROLS) expect(`${c}: ${seen.get(c)}`).toBe(`${c}: ${FILES[c]![0]}`);
  });

  test("the 0700 directory itself is gone; the directories holding secrets are still listed without them", () => {
    const r = inScratchEtc(["run", "--", "/bin/sh", "-c", "ls -d /etc/private-dir 2>&1; ls /etc/xpra /etc/apt/auth.conf.d"]);
    expect(r.stdout).toContain("No such file");
    expect(lines(r.stdout).slice(1)).toEqual(["/etc/apt/auth.conf.d:", "readable.conf", "", "/etc/xpra:", "xpra.conf"].filter(Boolean));
  });

  test("--dry-run shows the hidden paths", () => {
    const r = inScratchEtc(["run", "--dry-run", "--", "true"]);
    const hide = (JSON.parse(r.stdout).mounts as { op: string; hide?: string[] }[]).find((m) => m.op === "hide-bind")!.hide!;
    expect(hide).toEqual(expect.arrayContaining(["xpra/ssl-cert.pem", "pg_hba.conf", "apt/auth.conf.d/x.conf", "shadow.bak", "private-dir", "mounted/secret.key"]));
    expect(hide).not.toContain("readable.conf");
  });
});

describe("an explicit bind shows what it names", () => {
  test("--ro-bind of a 0600 file under /etc makes it readable; the other secrets stay hidden", () => {
    const seen = readEach(["xpra/ssl-cert.pem", "pg_hba.conf", "xpra/xpra.conf"], ["--ro-bind", "/etc/xpra/ssl-cert.pem"]);
    expect(seen.get("xpra/ssl-cert.pem")).toBe("xpra-private-key");
    expect(seen.get("pg_hba.conf")).toBe("No such file or directory");
    expect(seen.get("xpra/xpra.conf")).toBe("readable-3");
  });

  test("--ro-bind of a file inside a 0700 directory: that file only, not its siblings", () => {
    const seen = readEach(["private-dir/inside.conf", "private-dir/sibling.conf"], ["--ro-bind", "/etc/private-dir/inside.conf"]);
    expect(seen.get("private-dir/inside.conf")).toBe("inside-a-0700-dir");
    expect(seen.get("private-dir/sibling.conf")).toBe("No such file or directory");
  });
});

describe("with a user namespace", () => {
  test("root inside is an unprivileged host id: the kernel refuses the same files (no walk needed)", () => {
    const seen = readEach(["pg_hba.conf", "shadow.bak", "readable.conf"], ["--userns"]);
    expect(seen.get("pg_hba.conf")).toBe("Permission denied");
    expect(seen.get("shadow.bak")).toBe("Permission denied");
    expect(seen.get("readable.conf")).toBe("readable-1");
  });
});
