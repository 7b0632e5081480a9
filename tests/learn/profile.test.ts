// Unit tests of the pure half of learning: recordings → profiles (mapping through the learning
// jail's mounts, collapsing, network, capabilities, syscall groups), the TOML writer and reader,
// --merge, and the small decoders (open flags, ELF interpreter, socket addresses).
import { describe, expect, test } from "bun:test";
import { buildMounts } from "../../jail/mounts.ts";
import { parseRunArgs } from "../../jail/options.ts";
import { buildProfile, capabilitiesOf, collapsePaths, networkOf, placeOf, throughSystemLinks, COLLAPSE_FILES, type LearnContext } from "../../jail/learn/profile.ts";
import { emptyRecording, mergeRecordings, type Recording } from "../../jail/learn/recording.ts";
import { mergeProfiles, parseProfile, renderProfile } from "../../jail/learn/toml.ts";
import { groupSyscalls } from "../../jail/learn/syscall-groups.ts";
import { openAccess } from "../../jail/learn/recorder.ts";
import { interpreterOf } from "../../jail/learn/elf.ts";
import { formatEndpoint, parseSockaddr } from "../../jail/learn/sockaddr.ts";
import { learnFilterPlan, unobserved } from "../../jail/learn/filter.ts";
import { dacNeeded, fownerNeeded, openToAll, PERM } from "../../jail/learn/dac.ts";
import { expandGroup } from "../../sys/seccomp/groups.ts";
import { fakeHost } from "../unit/fake-host.ts";

const host = fakeHost({ paths: { "/srv": "dir", "/scratch": "dir", "/var/www": "dir" } });
const mounts = (args: string[]) => buildMounts(parseRunArgs([...args, "--", "x"]).options, host, null, false);
const ctx = (args: string[] = [], o: Partial<LearnContext> = {}): LearnContext => ({
  mounts: mounts(args), keptCaps: ["chown", "setuid", "setgid", "net_bind_service", "kill", "sys_chroot"], net: "host", jailx: "0.1.0", date: "2026-12-06", ...o,
});
function rec(r: Partial<Recording>): Recording {
  return { ...emptyRecording(), programs: ["prog"], runs: 1, ...r };
}

describe("paths through the learning jail's mounts", () => {
  test("system binds are host paths, /proc /dev /tmp belong to every jail, tmpfs and user binds are kept apart", () => {
    const m = mounts(["--tmpfs", "/var/lib/app", "--bind", "/scratch:/data", "--ro-bind", "/srv"]);
    expect(placeOf("/usr/lib/x.so", m)).toEqual({ kind: "host", host: "/usr/lib/x.so", writable: false });
    expect(placeOf("/etc/hostname", m)).toEqual({ kind: "host", host: "/etc/hostname", writable: false });
    for (const p of ["/proc/self/maps", "/dev/null", "/dev/shm/x", "/tmp/f", "/"]) expect(placeOf(p, m).kind).toBe("jail");
    expect(placeOf("/run/app.pid", m)).toEqual({ kind: "tmpfs", dst: "/run" });
    expect(placeOf("/var/lib/app/db", m)).toEqual({ kind: "tmpfs", dst: "/var/lib/app" });
    expect(placeOf("/data/x", m)).toEqual({ kind: "host", host: "/scratch/x", writable: true, userDst: "/data", userSrc: "/scratch" });
    expect(placeOf("/srv/a", m)).toEqual({ kind: "host", host: "/srv/a", writable: false });
  });

  test("a name through a top-level system link is the path it lands on", () => {
    const m = mounts([]);
    expect(throughSystemLinks("/lib64/ld-linux-x86-64.so.2", m)).toBe("/usr/lib64/ld-linux-x86-64.so.2");
    expect(throughSystemLinks("/bin/sh", m)).toBe("/usr/bin/sh");
    expect(throughSystemLinks("/usr/bin/sh", m)).toBe("/usr/bin/sh");
  });
});

describe("collapsing", () => {
  test("a few files stay files; many in one directory become the directory; broad directories never do", () => {
    const few = ["/usr/share/a/1", "/usr/share/a/2"];
    expect(collapsePaths(few, [], [])).toEqual(few);
    const many = Array.from({ length: COLLAPSE_FILES }, (_, i) => `/usr/share/a/${i}`);
    expect(collapsePaths([...many, "/usr/share/a/sub/x"], [], [])).toEqual(["/usr/share/a/"]);
    const libs = Array.from({ length: 20 }, (_, i) => `/usr/lib/x86_64-linux-gnu/lib${i}.so`);
    expect(collapsePaths(libs, [], [])).toEqual(libs.sort());
  });

  test("a listed directory is read whole (even a broad one); a directory only looked at goes when something beneath is kept", () => {
    expect(collapsePaths(["/usr/share/x/y"], ["/usr/share", "/opt/app"], ["/usr/share"])).toEqual(["/opt/app", "/usr/share/"]);
    expect(collapsePaths(["/etc/app/conf"], ["/etc/app", "/etc"], [])).toEqual(["/etc/app/conf"]);
    const p = buildProfile(rec({ paths: { "/usr/local": { access: ["read"], kind: "dir" } } }), ctx());
    expect(p.read).toEqual(["/usr/local"]);
    expect(p.notes.read!.join()).toContain("the directory itself, not its content (/usr/local)");
  });
});

describe("profile from a recording", () => {
  test("reads, execs, writes, refused writes and jail-only paths", () => {
    const r = rec({
      paths: {
        "/usr/bin/prog": { access: ["exec"], kind: "file", elf: true },
        "/usr/lib/x86_64-linux-gnu/libc.so.6": { access: ["read"], kind: "file", elf: true },
        "/etc/hostname": { access: ["read"], kind: "file" },
        "/usr/share/doc": { access: ["list"], kind: "dir" },
        "/usr/lib/cache": { access: ["create"], kind: "other" }, // refused while learning (read-only)
        "/proc/self/status": { access: ["read"], kind: "file" },
        "/tmp/f": { access: ["create"], kind: "other" },
        "/run/prog.pid": { access: ["create", "delete"], kind: "other" },
        "/data/out/log": { access: ["create"], kind: "other" },
        "/data/in": { access: ["write"], kind: "file" },
      },
      aliases: { "/lib64/ld-linux-x86-64.so.2": "/usr/bin/prog" },
    });
    const p = buildProfile(r, ctx(["--bind", "/data"]));
    expect(p.exec).toEqual(["/usr/bin/prog", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/ld-linux-x86-64.so.2"]);
    expect(p.read).toEqual(["/etc/hostname", "/usr/share/doc/"]);
    expect(p.write).toEqual(["/data/in", "/data/out", "tmpfs:/run"]);
    expect(p.notes.write!.join()).toContain("/usr/lib/cache");
    expect(JSON.stringify(p)).not.toContain("/proc/self");
    expect(JSON.stringify(p)).not.toContain("/tmp/f");
  });

  test("what lies at or below a written directory is not also a read-only bind over it", () => {
    const r = rec({
      paths: {
        "/data/body": { access: ["read"], kind: "dir" },
        "/data/state": { access: ["read"], kind: "file" },
        "/data/new": { access: ["create"], kind: "other" },
        "/srv/x": { access: ["read"], kind: "file" },
        "/etc/hostname": { access: ["read"], kind: "file" },
      },
    });
    const p = buildProfile(r, ctx(["--bind", "/data", "--ro-bind", "/srv"]));
    expect(p.write).toEqual(["/data"]);
    expect(p.read).toEqual(["/etc/hostname", "/srv/x"]);
    expect(p.notes.read!.join()).toContain("2 paths at or below a written directory are left out");
  });

  test("a user bind whose jail path differs from the host's stays a SRC:DST bind", () => {
    const r = rec({ paths: { "/data/conf": { access: ["read"], kind: "file" }, "/data/out/x": { access: ["create"], kind: "other" } } });
    const p = buildProfile(r, ctx(["--bind", "/scratch:/data"]));
    expect(p["ro-bind"]).toEqual(["/scratch/conf:/data/conf"]);
    expect(p.bind).toEqual(["/scratch/out:/data/out"]);
    expect(p.read).toEqual([]);
  });

  test("a name with ':' cannot be a SRC:DST bind: left out, and the profile says so", () => {
    const r = rec({ paths: { "/data/a:b": { access: ["read"], kind: "file" }, "/data/ok": { access: ["read"], kind: "file" } } });
    const p = buildProfile(r, ctx(["--ro-bind", "/scratch:/data"]));
    expect(p["ro-bind"]).toEqual(["/scratch/ok:/data/ok"]);
    expect(p.notes.read!.join()).toContain("/data/a:b");
  });
});

describe("network and capabilities", () => {
  test("none without inet sockets; host when listening or talking to others; loopback only between own endpoints", () => {
    expect(networkOf(rec({ families: ["unix", "netlink"] }), "host")).toBe("none");
    expect(networkOf(rec({ families: ["inet"], listen: ["tcp:127.0.0.1:8080"] }), "host")).toBe("host");
    expect(networkOf(rec({ families: ["inet"], connect: ["udp:127.0.0.53:53"] }), "host")).toBe("host");
    expect(networkOf(rec({ families: ["inet"], connect: ["tcp:10.0.0.1:80"] }), "host")).toBe("host");
    expect(networkOf(rec({ families: ["inet"] }), "host")).toBe("loopback");
    expect(networkOf(rec({ families: ["inet"], listen: ["tcp:127.0.0.1:80"] }), "none")).toBe("loopback");
  });

  test("capabilities follow the calls, limited to what the learning jail kept", () => {
    expect(capabilitiesOf(rec({ caps: ["net_bind_service", "setuid", "net_raw"] }), ["net_bind_service", "setuid"])).toEqual(["net_bind_service", "setuid"]);
    expect(capabilitiesOf(rec({ signals: true, ids: ["setuid 33"] }), ["kill"])).toEqual(["kill"]);
    expect(capabilitiesOf(rec({ signals: true }), ["kill"])).toEqual([]);
  });
});

describe("syscalls", () => {
  test("the baseline first, a group when every member was used, names otherwise", () => {
    const out = groupSyscalls({ x86_64: [...expandGroup("@timer"), "socket", "read", "mmap"] }, "x86_64");
    expect(out.slice(0, 2)).toEqual(["@default", "read"]);
    expect(out).toContain("@timer");
    expect(out).toContain("socket");
    expect(out).not.toContain("mmap");
    expect(out).not.toContain("setitimer"); // inside @timer
    expect(groupSyscalls({ i386: ["socketcall"] }, "x86_64")).toContain("@abi-i386");
  });

  test("the learning filter stops path calls and lets @default and hot I/O through, except execve", () => {
    const skip = unobserved(false);
    expect(skip).toContain("read");
    expect(skip).toContain("mmap");
    expect(skip).not.toContain("execve");
    expect(skip).not.toContain("openat");
    expect(unobserved(true)).toEqual(["madvise"]); // jailx's own runtime, between filter and execve
    expect(learnFilterPlan(7, true).syscalls.write!.argRules![0]!.when[0]!.value).toBe("7");
  });
});

describe("TOML", () => {
  const base = () => buildProfile(rec({ syscalls: { x86_64: ["openat", "socket"] }, paths: { "/etc/a\"b\nc\x7f": { access: ["read"], kind: "file" } } }), ctx());

  test("the written profile parses back to the same lists, whatever bytes a path holds", () => {
    const p = base();
    const text = renderProfile(p);
    expect(text).toContain("# Files read");
    const back = parseProfile(text, "x.toml");
    for (const k of ["syscalls", "read", "write", "exec", "capabilities"] as const) expect(back[k]).toEqual(p[k]);
    expect(back.network).toBe("none");
  });

  test("merging keeps what either run needed, re-collapsed, and the wider network", () => {
    const a = buildProfile(rec({ syscalls: { x86_64: ["openat"] }, paths: { "/usr/share/a/1": { access: ["read"], kind: "file" } } }), ctx());
    const b = buildProfile(rec({ syscalls: { x86_64: ["socket"] }, families: ["inet"], listen: ["tcp:0.0.0.0:80"], paths: { "/usr/share/a": { access: ["list"], kind: "dir" } } }), ctx());
    const m = mergeProfiles(parseProfile(renderProfile(a), "a"), b);
    expect(m.syscalls).toContain("openat");
    expect(m.syscalls).toContain("socket");
    expect(m.read).toEqual(["/usr/share/a/"]);
    expect(m.network).toBe("host");
    expect(m.learned.runs).toBe(2);
  });

  test("how the program was started is kept (user, forking, pid-file, chdir), nothing else; the later run wins a merge", () => {
    const p = buildProfile(rec({}), ctx([], { runOptions: { user: "www-data", forking: true, memory: "1g", bind: ["/x"] } }));
    expect(p.options).toEqual({ user: "www-data", forking: true });
    const text = renderProfile(p);
    expect(text).toContain('user = "www-data"\nforking = true\n');
    const back = parseProfile(text, "p.toml");
    expect(back.options).toEqual({ user: "www-data", forking: true });
    const later = buildProfile(rec({}), ctx([], { runOptions: { user: "nobody" } }));
    expect(mergeProfiles(back, later).options).toEqual({ user: "nobody", forking: true });
  });

  test("a bad --merge file is one clear error", () => {
    expect(() => parseProfile("read = 3", "p.toml")).toThrow("--merge p.toml: 'read' must be a list of strings");
    expect(() => parseProfile("network = 'wifi'", "p.toml")).toThrow("use none, loopback or host");
    expect(() => parseProfile("[[", "p.toml")).toThrow("not a TOML file");
  });

  test("recordings merge as unions", () => {
    const m = mergeRecordings(rec({ syscalls: { x86_64: ["a"] }, caps: ["chown"] }), rec({ syscalls: { x86_64: ["b"] }, caps: ["chown", "kill"] }));
    expect(m.syscalls.x86_64).toEqual(["a", "b"]);
    expect(m.caps).toEqual(["chown", "kill"]);
    expect(m.runs).toBe(2);
  });
});

describe("decoders", () => {
  test("open flags → access kind", () => {
    expect(openAccess(0, false)).toBe("read");
    expect(openAccess(1, false)).toBe("write");
    expect(openAccess(0o100 | 1, false)).toBe("create");
    expect(openAccess(0o1000, false)).toBe("write");
    expect(openAccess(0o10000000 | 0o100, false)).toBe("read"); // O_PATH ignores O_CREAT
    expect(openAccess(0o20000000 | 0o200000 | 2, false)).toBe("write"); // O_TMPFILE
  });

  test("interpreters: #! lines and ELF PT_INTERP; garbage gives none", () => {
    expect(interpreterOf(Buffer.from("#! /bin/sh -e\necho"))).toBe("/bin/sh");
    expect(interpreterOf(Buffer.from("#!relative\n"))).toBeNull();
    const elf = Buffer.alloc(512);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2; elf[5] = 1;
    elf.writeBigUInt64LE(64n, 32); elf.writeUInt16LE(56, 54); elf.writeUInt16LE(1, 56);
    elf.writeUInt32LE(3, 64); elf.writeBigUInt64LE(200n, 72); elf.writeBigUInt64LE(28n, 96);
    elf.write("/lib64/ld-linux-x86-64.so.2\0", 200);
    expect(interpreterOf(elf)).toBe("/lib64/ld-linux-x86-64.so.2");
    elf.writeBigUInt64LE(100000n, 72);
    expect(interpreterOf(elf)).toBeNull();
    expect(interpreterOf(Buffer.alloc(3))).toBeNull();
  });

  test("socket addresses", () => {
    const v4 = Buffer.from([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const a = parseSockaddr(v4)!;
    expect(a).toEqual({ family: "inet", port: 8080, addr: "127.0.0.1" });
    expect(formatEndpoint("tcp", a as never)).toBe("tcp:127.0.0.1:8080");
    const v6 = Buffer.alloc(28);
    v6.writeUInt16LE(10, 0); v6.writeUInt16BE(53, 2); v6.writeUInt16BE(1, 22);
    expect(formatEndpoint("udp", parseSockaddr(v6) as never)).toBe("udp:[::1]:53");
    const un = Buffer.concat([Buffer.from([1, 0]), Buffer.from("/run/x.sock\0garbage")]);
    expect(parseSockaddr(un)).toEqual({ family: "unix", path: "/run/x.sock", abstract: false });
    expect(parseSockaddr(Buffer.from([1, 0, 0, 0x41, 0x0a]))).toEqual({ family: "unix", path: "A?", abstract: true });
    expect(parseSockaddr(Buffer.from([2, 0, 1]))).toEqual({ family: "other", number: 2 });
  });
});

describe("permissions → capabilities", () => {
  const root = { fsuid: 0, fsgid: 0, groups: [] };
  const user = { fsuid: 1000, fsgid: 1000, groups: [50] };
  test("root needs dac_override only where its ids would not do", () => {
    expect(openToAll(0o644, PERM.R)).toBe(true);
    expect(openToAll(0o640, PERM.R)).toBe(false);
    expect(dacNeeded(0o600, 33, 33, PERM.R, root)).toBe("dac_override"); // www-data's private file
    expect(dacNeeded(0o600, 0, 0, PERM.R, root)).toBeNull(); // its own
    expect(dacNeeded(0o750, 33, 0, PERM.R | PERM.X, root)).toBeNull(); // through its group
    expect(dacNeeded(0o755, 33, 33, PERM.W | PERM.X, root)).toBe("dac_override"); // create in another's dir
  });
  test("a non-root thread was refused while learning: nothing to add", () => {
    expect(dacNeeded(0o600, 33, 33, PERM.R, user)).toBeNull();
    expect(dacNeeded(0o640, 33, 50, PERM.R, user)).toBeNull();
  });
  test("changing another user's file is fowner, for root only", () => {
    expect(fownerNeeded(33, root)).toBe("fowner");
    expect(fownerNeeded(0, root)).toBeNull();
    expect(fownerNeeded(33, user)).toBeNull();
  });
});
