// `jailx run` from inside a plain chroot (its root a directory, not a mount): the jail's mount
// namespace cannot be built there, so jailx must say why in one line and how to fix it — and the
// fix it names (make the chroot directory a mount point first) must work. Everything happens in
// a private mount namespace (unshare -m --propagation private); the scratch dir is removed.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { JAILX } from "../helpers/jail.ts";

function inChroot(bindFirst: boolean): { code: number; stdout: string; stderr: string } {
  const dir = mkdtempSync("/var/tmp/jailx-chroot-");
  const script = [
    "set -e",
    bindFirst ? `mount --bind "$1" "$1"` : ":",
    `mkdir -p "$1/usr" "$1/etc" "$1/opt" "$1/proc" "$1/dev" "$1/sys" "$1/tmp"`,
    `for d in usr etc dev proc sys; do mount --rbind "/$d" "$1/$d"; done`,
    `ln -s usr/bin "$1/bin"; ln -s usr/lib "$1/lib"; ln -s usr/lib64 "$1/lib64"; cp "$2" "$1/opt/jailx"`,
    "set +e",
    `chroot "$1" /opt/jailx run -- /bin/echo inside`,
  ].join("\n");
  try {
    const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dir, JAILX], { stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("in a plain chroot: exit 125 and one line naming the cause (chroot root not a mount point) and the fix", () => {
  const r = inChroot(false);
  expect(r.code).toBe(125);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("chroot whose root is not a mount point");
  expect(lines[0]).toContain("mount --bind DIR DIR");
});

test("control: the same chroot made a mount point first (the fix the message names) runs the jail", () => {
  const r = inChroot(true);
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("inside\n");
  expect(r.code).toBe(0);
});
