// @ts-check
// Reads of one list overlap: a poll, a live event's refresh, a first load held up by a busy
// server. Their answers can land out of order, and an answer to an older read would take
// back what a newer one showed (an upload listed, then gone). Each read takes a number as it
// starts; an answer is shown only if no later read's answer is shown already.
// Plain JavaScript so `node --test lib/` tests it.

/** @returns {{ start: () => number, accept: (read: number) => boolean }} */
export function readOrder() {
  let asked = 0;
  let shown = 0;
  return {
    start: () => ++asked,
    accept(read) {
      if (read < shown) return false;
      shown = read;
      return true;
    },
  };
}
