/** A user-facing failure of a command in src/control or src/try: one line, exit 1, no stack. */
export class CommandError extends Error {}
