// Plan building: the default policy, capability adaptation, flags, files and their errors.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../sys/errors.ts";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { parseAction } from "../../sys/seccomp/actions.ts";
import { GROUPS, expandGroup } from "../../sys/seccomp/groups.ts";
import { isKnownSyscall } from "../../sys/seccomp/tables.ts";
import { DEFAULT_CAPS } from "../../sys/caps.ts";

const plan = (o: Record<string, string | boolean | string[]> = {}, caps: readonly string[] = DEFAULT_CAPS) => seccompPlanFromOptions(o, caps)!;
const action = (p: ReturnType<typeof plan>, name: string) => p.syscalls[name]?.action ?? p.defaultAction;

describe("default policy", () => {
  const p = plan();
  test.each([
    "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "swapon", "swapoff", "reboot", "ptrace",
    "pivot_root", "uselib", "ustat", "sysfs", "_sysctl", "acct", "settimeofday", "clock_settime", "syslog",
    "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "lookup_dcookie", "fsopen", "move_mount",
    "open_tree", "iopl", "ioperm", "vhangup", "sethostname", "quotactl", "fanotify_init", "mbind",
  ])("refuses %s with EPERM", (name) => expect(action(p, name)).toBe("errno:1"));

  test("clone3 gets ENOSYS so libc falls back to clone", () => expect(action(p, "clone3")).toBe("errno:38"));
  test("is a deny-list: ordinary syscalls are allowed", () => {
    expect(p.defaultAction).toBe("allow");
    for (const n of ["read", "write", "execve", "execveat", "futex", "mmap", "openat", "socket", "clone", "chroot"]) expect(action(p, n)).toBe("allow");
  });
  test("guards ioctl (TIOCSTI, TIOCLINUX on the low 32 bits), clone flags, socket families, personality", () => {
    expect(p.syscalls.ioctl!.argRules!.map((r) => r.when[0]!.value)).toEqual(["0x5412", "0x541c", "0x5423"]);
    expect(p.syscalls.ioctl!.argRules!.every((r) => r.when[0]!.width === 32)).toBe(true);
    expect(p.syscalls.clone!.argRules![0]!.when[0]).toMatchObject({ op: "masked-ne", mask: "0x7e020000" });
    expect(p.syscalls.socket!.argRules!.map((r) => r.when[0]!.value)).toEqual(["38", "40"]);
    expect(p.syscalls.personality!.argRules!.at(-1)).toMatchObject({ when: [], action: "errno:1" });
  });
  test("guards setsockopt(SOL_SOCKET, SO_REUSEPORT); --allow-reuseport removes only that rule", () => {
    expect(p.syscalls.setsockopt!.argRules!.map((r) => r.when.map((c) => `${c.arg}=${c.value}/${c.width}`))).toEqual([["1=1/32", "2=15/32"]]);
    expect(plan({ "allow-reuseport": true }).syscalls.setsockopt).toBeUndefined();
    expect(plan({ "allow-reuseport": true }).syscalls.ioctl).toEqual(p.syscalls.ioctl!);
  });
  test("closes the i386 and x32 ABIs with ENOSYS", () => {
    expect(p.openAbis).toEqual([]);
    expect(p.foreignAbiAction).toBe("errno:38");
  });
  test("is plain JSON", () => expect(JSON.parse(JSON.stringify(p))).toEqual(p));
  test("--seccomp none gives no plan", () => expect(seccompPlanFromOptions({ seccomp: "none" }, DEFAULT_CAPS)).toBeNull());
});

describe("at least as strict as Docker's default profile (shared/notes/seccomp-reference.md)", () => {
  const p = plan();
  const NEVER = ["uselib", "ustat", "sysfs", "pivot_root", "_sysctl", "swapon", "swapoff", "create_module", "get_kernel_syms", "query_module", "nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security", "vserver", "kexec_load", "add_key", "request_key", "keyctl", "migrate_pages", "move_pages", "kexec_file_load", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"];
  const GATED_OFF_BY_DEFAULT_CAPS = ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise", "syslog", "vhangup", "acct", "settimeofday", "clock_settime", "mount", "umount2", "sethostname", "setdomainname", "quotactl", "lookup_dcookie", "unshare", "fanotify_init", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "quotactl_fd", "reboot", "iopl", "ioperm", "init_module", "delete_module", "finit_module", "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "perf_event_open", "open_by_handle_at", "bpf"];
  test.each([...NEVER, ...GATED_OFF_BY_DEFAULT_CAPS])("%s is refused", (n) => expect(action(p, n)).toMatch(/^errno:/));
  test("clone3 is ENOSYS, as Docker answers without CAP_SYS_ADMIN", () => expect(action(p, "clone3")).toBe("errno:38"));
});

describe("adapts to the capabilities the jail keeps (like Docker)", () => {
  test("sys_admin opens the mount family, sethostname; never namespaces", () => {
    const p = plan({}, [...DEFAULT_CAPS, "sys_admin"]);
    for (const n of ["mount", "umount2", "fsopen", "move_mount", "sethostname"]) expect(action(p, n)).toBe("allow");
    for (const n of ["unshare", "setns", "pivot_root"]) expect(action(p, n)).toBe("errno:1");
    expect(p.syscalls.clone!.argRules).toHaveLength(1);
  });
  test("sys_ptrace opens ptrace and process_vm_*", () => {
    const p = plan({}, ["sys_ptrace"]);
    for (const n of ["ptrace", "process_vm_readv", "kcmp"]) expect(action(p, n)).toBe("allow");
  });
  test("sys_chroot, sys_time, dac_read_search, CAP_-prefixed names", () => {
    expect(action(plan({}, []), "chroot")).toBe("errno:1");
    expect(action(plan({}, ["sys_chroot"]), "chroot")).toBe("allow");
    expect(action(plan({}, ["CAP_SYS_TIME"]), "settimeofday")).toBe("allow");
    expect(action(plan({}, ["dac_read_search"]), "open_by_handle_at")).toBe("allow");
  });
});

describe("flags", () => {
  test("--seccomp-allow by name lifts its guards; by group keeps them", () => {
    expect(plan({ "seccomp-allow": ["ioctl"] }).syscalls.ioctl).toBeUndefined();
    expect(plan({ "seccomp-allow": ["@system-service"] }).syscalls.ioctl!.argRules).toHaveLength(3);
  });
  test("--seccomp-allow @namespaces allows unshare/setns/clone3 and namespace flags", () => {
    const p = plan({ "seccomp-allow": ["@namespaces"] });
    for (const n of ["unshare", "setns", "clone3", "clone"]) expect(p.syscalls[n]).toBeUndefined();
  });
  test("--seccomp-deny NAME and @group", () => {
    const p = plan({ "seccomp-deny": ["getppid", "@sync"] });
    expect(action(p, "getppid")).toBe("errno:1");
    expect(action(p, "fsync")).toBe("errno:1");
  });
  test("deny wins over allow", () => expect(action(plan({ "seccomp-allow": ["mount"], "seccomp-deny": ["mount"] }), "mount")).toBe("errno:1"));
  test("allow-list mode: errno default plus @system-service; @default always in", () => {
    const p = plan({ "seccomp-default-action": "errno", "seccomp-allow": ["@system-service"] });
    expect(p.defaultAction).toBe("errno:1");
    for (const n of ["read", "openat", "execve", "exit_group", "socket", "ioctl"]) expect(action(p, n)).toBe("allow");
    for (const n of ["mount", "reboot", "ptrace", "unshare", "syslog"]) expect(action(p, n)).not.toBe("allow");
    expect(p.syscalls.ioctl!.argRules).toHaveLength(3);
    const minimal = plan({ "seccomp-default-action": "kill" });
    expect(action(minimal, "execve")).toBe("allow");
    expect(action(minimal, "openat")).toBe("kill");
  });
  test("--seccomp-default-action errno:N and names; log; --seccomp-log", () => {
    expect(plan({ "seccomp-default-action": "errno:13" }).defaultAction).toBe("errno:13");
    expect(plan({ "seccomp-default-action": "errno:EACCES" }).defaultAction).toBe("errno:13");
    expect(plan({ "seccomp-default-action": "log" }).defaultAction).toBe("log");
    expect(plan({ "seccomp-log": true }).log).toBe(true);
  });
  test("@abi-i386 opens the i386 entry", () => expect(plan({ "seccomp-allow": ["@abi-i386"] }).openAbis).toEqual(["i386"]));
  test.each([
    [{ "seccomp-allow": ["mountt"] }, /unknown syscall 'mountt'/],
    [{ "seccomp-deny": ["@mounts"] }, /unknown syscall group '@mounts'/],
    [{ "seccomp-default-action": "deny" }, /unknown seccomp action 'deny'/],
    [{ "seccomp-default-action": "errno:99999" }, /unknown seccomp action/],
    [{ "seccomp-deny": ["execve"] }, /refuses 'execve'/],
    [{ seccomp: "/nonexistent/policy.toml" }, /cannot read the policy file/],
  ])("bad input %j is a UsageError", (o, re) => {
    expect(() => plan(o)).toThrow(UsageError);
    expect(() => plan(o)).toThrow(re);
  });
});

describe("policy file (TOML)", () => {
  const dir = mkdtempSync(join(tmpdir(), "jailx-seccomp-policy-"));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  test("same vocabulary as the flags, plus argument rules", () => {
    const p = plan({
      seccomp: file("ok.toml", `
base = "default"
default-action = "errno:EACCES"
deny-action = "kill"
foreign-abi-action = "kill"
allow = ["@system-service"]
deny = ["getppid"]
log = true
[[rule]]
syscall = "prctl"
action = "errno:EPERM"
when = [{ arg = 0, op = "eq", value = 0x16, width = 32 }]
`),
    });
    expect(p.defaultAction).toBe("errno:13");
    expect(action(p, "getppid")).toBe("kill");
    expect(p.foreignAbiAction).toBe("kill");
    expect(p.log).toBe(true);
    expect(p.syscalls.prctl!.argRules).toEqual([{ when: [{ arg: 0, op: "eq", value: "0x16", width: 32 }], action: "errno:1" }]);
  });
  test("flags apply on top of the file", () => {
    const p = plan({ seccomp: file("base.toml", `deny = ["getppid"]\n`), "seccomp-allow": ["getppid"], "seccomp-deny": ["getpid"] });
    expect(action(p, "getppid")).toBe("errno:1");
    expect(action(p, "getpid")).toBe("errno:1");
  });
  test("base = empty has no default rules", () => {
    const p = plan({ seccomp: file("empty.toml", `base = "empty"\n`) });
    expect(p.syscalls).toEqual({});
  });
  test.each([
    ["bad.toml", "allow = [", /not valid TOML/],
    ["key.toml", "allw = []", /unknown key 'allw'/],
    ["base.toml", `base = "strict"`, /base = "strict"/],
    ["name.toml", `deny = ["nosuchcall"]`, /unknown syscall 'nosuchcall'/],
    ["arg.toml", `[[rule]]\nsyscall = "ioctl"\naction = "errno"\nwhen = [{ arg = 7, value = 1 }]`, /arg = 7/],
  ])("%s is refused with the reason", (name, text, re) => {
    expect(() => plan({ seccomp: file(name, text) })).toThrow(re);
  });
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});

describe("groups", () => {
  test("every member names a syscall some table knows", () => {
    for (const g of Object.keys(GROUPS)) {
      const unknown = expandGroup(g).filter((n) => !isKnownSyscall(n));
      // Names only other architectures have are allowed in a few places (e.g. arm_fadvise64_64).
      expect(unknown.filter((n) => !["arm_fadvise64_64", "swapcontext", "sys_debug_setcontext", "signal", "recv", "send", "waitpid", "epoll_ctl_old", "epoll_wait_old", "sync_file_range2", "sigaction", "sigpending", "sigprocmask", "sigsuspend", "alarm", "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "mmap2"].includes(n))).toEqual([]);
    }
  });
  test("nested groups expand", () => expect(expandGroup("@privileged")).toContain("reboot"));
  test("actions parse", () => {
    expect(parseAction("ERRNO:ENOSYS", "x")).toBe("errno:38");
    expect(parseAction("kill-process", "x")).toBe("kill");
  });
});
