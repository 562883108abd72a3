/**
 * How many times the event loop turned (setImmediate callbacks ran) while `work` ran: a call
 * that blocks the loop lets none run, one that waits off it lets many. Counts, not timings, so the
 * assertion holds on a loaded machine.
 */
export async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const turn = () => {
    turns++;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    running = false;
  }
}
