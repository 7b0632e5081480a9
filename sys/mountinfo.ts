// /proc/PID/mountinfo (proc(5)): the one parser, for the jail's mount setup, the cgroup layout
// and inspect. Pure: no I/O here.

export interface Mount {
  /** unique for the mount object: two namespaces never show the same id */
  readonly id: number;
  readonly parent: number;
  /** "major:minor" */
  readonly dev: string;
  /** field 4: the path inside the source filesystem that is mounted here */
  readonly root: string;
  readonly mountPoint: string;
  readonly options: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
export function unescapeMountField(s: string): string {
  return s.includes("\\") ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

/** Fields, optional fields up to "-", fstype, source, super options; malformed lines are skipped. */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2]!,
      root: unescapeMountField(f[3]!),
      mountPoint: unescapeMountField(f[4]!),
      options: f[5]!.split(","),
      fsType: f[sep + 1]!,
      source: unescapeMountField(f[sep + 2]!),
      superOptions: (f[sep + 3] ?? "").split(","),
    });
  }
  return out;
}
