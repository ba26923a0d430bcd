// Write a whole file so that a reader (or a crash) only ever sees the old or the new content:
// temp file beside it, fsync, rename.
import { open, rename } from 'node:fs/promises';

export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const h = await open(tmp, 'w', mode);
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, file);
}
