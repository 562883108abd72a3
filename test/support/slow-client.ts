/** A slow client for timeout tests. */
import type { Socket } from 'node:net';

/** Writes `text` one byte at a time every `everyMs` until it is all sent or the socket closes. */
export function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}
