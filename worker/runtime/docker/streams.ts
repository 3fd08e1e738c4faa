/**
 * Splits Docker's multiplexed stdout/stderr stream format (8-byte frame headers) into text.
 * Used for container logs and exec output when the container has no TTY.
 */
export function demux(buffer: Buffer): string {
  let out = '';
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if (type === undefined || type > 2 || offset + 8 + size > buffer.length) {
      // Not multiplexed (a TTY container): the rest is plain text.
      return out + buffer.subarray(offset).toString('utf8');
    }
    out += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  return out + buffer.subarray(offset).toString('utf8');
}
