// Runs a command (the test suite) and fails if the host's secrets or accounts changed meanwhile.
// `npm test` runs `bun test` through it: a test that rewrites /etc/gshadow, leaves a user behind
// or widens a secret's mode fails the suite, not just a warning. Compared: mode, owner, group and
// content (a rename that restores the same bytes and metadata is not a change).
//   bun scripts/host-guard.ts CMD ARGS…
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { constants } from "node:os";

const SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers"];
/** Accounts: a test that adds a user or group must remove it again, byte for byte. */
const ACCOUNTS = ["/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"];

function watched(): string[] {
  let keys: string[] = [];
  try {
    keys = readdirSync("/etc/ssh").filter((n) => /_key$/.test(n)).map((n) => `/etc/ssh/${n}`);
  } catch {
    /* no ssh server on this host */
  }
  return [...SECRETS, ...ACCOUNTS, ...keys];
}

function fingerprint(path: string): string {
  try {
    const st = statSync(path);
    const sum = createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
    return `mode ${(st.mode & 0o7777).toString(8)} owner ${st.uid}:${st.gid} sha256 ${sum}`;
  } catch (e) {
    return `absent (${(e as NodeJS.ErrnoException).code})`;
  }
}

const argv = process.argv.slice(2);
if (argv.length === 0) {
  console.error("usage: bun scripts/host-guard.ts CMD ARGS…");
  process.exit(2);
}
const paths = watched();
const before = new Map(paths.map((p) => [p, fingerprint(p)]));
const run = Bun.spawnSync(argv, { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
const changed = paths.filter((p) => fingerprint(p) !== before.get(p));
if (changed.length > 0) {
  for (const p of changed) console.error(`host-guard: ${p} changed during the test run: was ${before.get(p)}, now ${fingerprint(p)}`);
  console.error("host-guard: a test changed the host outside its scratch; find it and fix it (restore the file by hand).");
  process.exit(1);
}
const sig = run.signalCode ? constants.signals[run.signalCode as NodeJS.Signals] : 0;
process.exit(run.exitCode ?? 128 + sig);
