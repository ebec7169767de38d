/**
 * Who may write the file decides what a root daemon does to the host's network, so, like
 * sshd's StrictModes, island refuses a file that someone other than root (or the user running
 * island) owns or could rewrite.
 */
import { type Stats, statSync } from 'node:fs';

/**
 * One line naming the file and what is wrong with it, or undefined when the file is safe.
 * One stat, made synchronously: node:fs/promises would be loaded for it alone by `island check`,
 * which runs on every reload (~1 ms of its CPU).
 */
export async function unsafeConfigFile(path: string): Promise<string | undefined> {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    // a missing or unreadable file is the loader's to report, with its own words
    return undefined;
  }
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) {
    return `${path}: owned by uid ${st.uid}, not by root: refusing it (chown root ${path})`;
  }
  if (st.mode & 0o022) {
    const who = st.mode & 0o002 ? 'others' : 'its group';
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    return `${path}: writable by ${who} (mode ${mode}): refusing it (chmod go-w ${path})`;
  }
  return undefined;
}
