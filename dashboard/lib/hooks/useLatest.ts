"use client";

import { useEffect, useRef } from "react";

/** A ref that holds the latest `value`, for a callback that outlives the render it was made in
 * (a timer, a live event, a read that lands later) without being a reason to run again. */
export function useLatest<T>(value: T) {
  const ref = useRef(value);
  useEffect(() => {
    ref.current = value;
  }, [value]);
  return ref;
}
