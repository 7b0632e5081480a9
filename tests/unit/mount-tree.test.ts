// What a clone of a host path holds, from the mount table (sys/mountinfo.ts mountTreeAt): the
// flags a remount must keep on a kernel without mount_setattr, and which submounts it must reach.
import { describe, expect, test } from "bun:test";
import { attrsOfOptions, mountTreeAt } from "../../sys/mountinfo.ts";

const RDONLY = 1, NOSUID = 2, NODEV = 4, NOEXEC = 8;
/** mountinfo lines: id parent mountpoint options */
const table = (rows: [number, number, string, string][]) =>
  rows.map(([id, parent, mp, opts]) => `${id} ${parent} 0:${id} / ${mp} ${opts} shared:1 - ext4 /dev/x rw`).join("\n") + "\n";

describe("mount flags from mountinfo", () => {
  test("ro, nosuid, nodev, noexec become MOUNT_ATTR bits; atime and other options do not", () => {
    expect(attrsOfOptions(["ro", "nosuid", "nodev", "noexec", "relatime"])).toBe(RDONLY | NOSUID | NODEV | NOEXEC);
    expect(attrsOfOptions(["rw", "relatime"])).toBe(0);
    expect(attrsOfOptions(["rw", "nosuid", "noatime"])).toBe(NOSUID);
  });
});

describe("the mounts a clone of a path holds", () => {
  const base: [number, number, string, string][] = [
    [1, 0, "/", "rw,relatime"],
    [2, 1, "/usr", "ro,nodev"],
    [3, 2, "/usr/local", "rw,nosuid,noexec"],
    [4, 1, "/home", "rw,nosuid,nodev"],
  ];

  test("the mount a path lies on, and the submounts beneath it (parents first), relative to it", () => {
    expect(mountTreeAt("/usr", table(base), true)).toEqual({ attrs: RDONLY | NODEV, subs: [{ rel: "local", attrs: NOSUID | NOEXEC }] });
    expect(mountTreeAt("/usr/share", table(base), true)).toEqual({ attrs: RDONLY | NODEV, subs: [] });
    expect(mountTreeAt("/", table(base), true).subs.map((s) => s.rel)).toEqual(["usr", "home", "usr/local"]);
  });

  test("a non-recursive clone holds no submounts", () => {
    expect(mountTreeAt("/usr", table(base), false)).toEqual({ attrs: RDONLY | NODEV, subs: [] });
  });

  test("a path that only shares a prefix with a mount point is not on it (/usrx is not /usr)", () => {
    expect(mountTreeAt("/usrx", table(base), true)).toEqual({ attrs: 0, subs: [] });
  });

  test("a mount stacked on another covers it: its flags count, and the submounts of the covered one are hidden", () => {
    const t = table([...base, [5, 2, "/usr", "rw,nosuid"], [6, 5, "/usr/lib", "ro"]]);
    expect(mountTreeAt("/usr", t, true)).toEqual({ attrs: NOSUID, subs: [{ rel: "lib", attrs: RDONLY }] });
  });

  test("a submount under a directory another mount later covered is left out; the one covering it counts", () => {
    // /home/a/b was mounted first (on /home's tree), then /home/a on top of its parent directory
    const t = table([...base, [7, 4, "/home/a/b", "rw"], [8, 4, "/home/a", "rw,noexec"]]);
    expect(mountTreeAt("/home", t, true).subs).toEqual([{ rel: "a", attrs: NOEXEC }]);
    // …but if the covering mount has its own mount at that point, that one is there
    const t2 = table([...base, [7, 4, "/home/a/b", "rw"], [8, 4, "/home/a", "rw,noexec"], [9, 8, "/home/a/b", "ro"]]);
    expect(mountTreeAt("/home", t2, true).subs).toEqual([{ rel: "a", attrs: NOEXEC }, { rel: "a/b", attrs: RDONLY }]);
  });

  test("mount points with escaped spaces are matched unescaped", () => {
    const t = table([...base, [10, 4, "/home/my\\040dir", "ro"]]);
    expect(mountTreeAt("/home", t, true).subs).toContainEqual({ rel: "my dir", attrs: RDONLY });
  });
});
