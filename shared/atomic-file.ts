// Write a whole file so that a reader (or a crash) only ever sees the old or the new content:
// temp file beside it, fsync, rename.
import { open, rename, rm } from 'node:fs/promises';

export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const h = await open(tmp, 'w', mode);
    try {
      // The mode of open() applies only to a new file; a temp file left by a crash keeps its own.
      await h.chmod(mode);
      await h.writeFile(text);
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, file);
  } catch (err) {
    // A write that failed (disk full) must not leave its half-written temp file taking the space.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
