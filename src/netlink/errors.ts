/**
 * A request the kernel refused: the operation and the errno's name. Its own module, free of
 * the addon, so that the CLI can tell it apart without loading netlink.
 */
export class NetlinkError extends Error {
  constructor(
    readonly op: string,
    readonly code: string,
  ) {
    super(`${op}: ${code}`);
  }
}
