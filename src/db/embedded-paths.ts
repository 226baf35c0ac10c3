// Checks on the folders the embedded PostgreSQL's binaries and data live in. As root, provet-sync
// copies the binaries, and may keep the data, under the system temp folder, at names anyone can
// predict: another local user could create such a path first (a folder of theirs, a symlink) and
// have PostgreSQL run their programs or write where they choose. A path is used only when nobody
// but its owner can change it, all the way up. Each check returns what is wrong, or null.
import { lstat, mkdir, readdir, readlink, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const WRITABLE_BY_GROUP_OR_OTHERS = 0o022;
const STICKY = 0o1000;

function ownUid(): number {
  return process.getuid?.() ?? -1;
}

/**
 * A folder on the way to `path` that others could change an entry of: group- or other-writable,
 * unless sticky and owned by root or this user (the system temp folder: others may add entries of
 * their own there, but not rename or remove ours).
 */
export async function writableAncestor(path: string): Promise<string | null> {
  let dir = dirname(path);
  // The real path: a symlinked ancestor (macOS's /tmp, say) is judged by the folder it leads to.
  dir = await realpath(dir).catch(() => dir);
  for (; ; dir = dirname(dir)) {
    const info = await lstat(dir).catch(() => undefined);
    if (info && (info.mode & WRITABLE_BY_GROUP_OR_OTHERS) !== 0) {
      const guarded = (info.mode & STICKY) !== 0 && (info.uid === 0 || info.uid === ownUid());
      if (!guarded) return `${dir} is writable by other users`;
    }
    if (dirname(dir) === dir) return null;
  }
}

/**
 * What makes the tree at `root` unsafe to run or keep data in, if anything: a symlink or a file
 * where a folder should be, an entry writable by group or others, an entry owned by another user
 * (when `owner` is given), a symlink leading out of its folder.
 */
export async function unsafeTree(root: string, owner?: number): Promise<string | null> {
  const info = await lstat(root);
  if (info.isSymbolicLink()) return `${root} is a symlink`;
  if (!info.isDirectory()) return `${root} is not a folder`;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const problem = unsafeEntry(dir, await lstat(dir), owner);
    if (problem) return problem;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
        continue;
      }
      const entryInfo = await lstat(path);
      if (entry.isSymbolicLink()) {
        // The libraries' version links (libpq.so -> libpq.so.5.17) point next to themselves.
        if ((await readlink(path)).includes('/')) return `${path} is a symlink leading out of its folder`;
        if (owner !== undefined && entryInfo.uid !== owner) return `${path} belongs to another user`;
        continue;
      }
      const entryProblem = unsafeEntry(path, entryInfo, owner);
      if (entryProblem) return entryProblem;
    }
  }
  return null;
}

function unsafeEntry(path: string, info: { mode: number; uid: number }, owner: number | undefined): string | null {
  if ((info.mode & WRITABLE_BY_GROUP_OR_OTHERS) !== 0) return `${path} is writable by other users`;
  if (owner !== undefined && info.uid !== owner) return `${path} belongs to another user (uid ${info.uid})`;
  return null;
}

/**
 * Makes the folder `path` (mode `mode`, less the umask) unless it exists, then checks that it is
 * this user's own: a real folder nobody else can write to, under folders nobody else can change.
 */
export async function ownFolderProblem(path: string, mode: number): Promise<string | null> {
  const above = await writableAncestor(path);
  if (above) return above;
  await mkdir(path, { mode }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const info = await lstat(path);
  if (info.isSymbolicLink()) return `${path} is a symlink`;
  if (!info.isDirectory()) return `${path} is not a folder`;
  return unsafeEntry(path, info, ownUid());
}
