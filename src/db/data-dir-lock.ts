import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Thrown when another live process holds the embedded data folder. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
    readonly lockFile: string,
  ) {
    super(
      `the embedded database folder ${dataDir} is in use by process ${holderPid} (lock file ${lockFile}); ` +
        'PGlite serves one process only: stop that process, give this one its own PGLITE_DATA_DIR, or set DATABASE_URL',
    );
    this.name = 'DataDirInUseError';
  }
}

export const LOCK_FILE_NAME = 'crm-worker.lock';

/**
 * Takes the embedded data folder for this process: a lock file holding our pid, created
 * exclusively. PGlite has no lock of its own, and two processes on one folder both start and
 * then lose each other's writes. A lock file whose process is gone (a crash, kill -9) is stale and
 * taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const lockFile = path.join(dataDir, LOCK_FILE_NAME);
  const content = JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() });
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lockFile, content, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw err;
      const holder = readHolder(lockFile);
      if (holder !== undefined && holder.host === os.hostname() && isAlive(holder.pid)) {
        throw new DataDirInUseError(dataDir, holder.pid, lockFile);
      }
      // Stale (its process is gone) or unreadable (a crash mid-write): take it over.
      fs.rmSync(lockFile, { force: true });
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // Only our own lock is removed: a folder taken over meanwhile stays with its holder.
    if (readHolder(lockFile)?.pid === process.pid) fs.rmSync(lockFile, { force: true });
  };
}

function readHolder(lockFile: string): { pid: number; host: string } | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid?: unknown; host?: unknown };
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else; it still holds the folder.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
