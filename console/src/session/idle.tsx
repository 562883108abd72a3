/**
 * Idle sign-out: after a chosen time without the person touching the page (pointer, keys,
 * wheel, touch), the session ends as *Sign out* ends it — the clients and the credentials they
 * hold are dropped. A minute before, a dialog says so and offers to stay. Calls the page makes
 * by itself (polling a key store's connection) are not activity.
 */
import { useEffect, useRef, useState, type ReactElement } from 'react';
import { Dialog } from '../components/dialog.js';

/** The default, and the bounds offered at sign-in, in minutes. */
export const IDLE_MINUTES_DEFAULT = 15;
export const IDLE_MINUTES_MIN = 1;
export const IDLE_MINUTES_MAX = 720;
/** How long before the sign-out the warning appears. */
const WARNING_MS = 60_000;
const ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'] as const;

/** Whether `value` (as typed) is an idle time the console accepts; the problem to show if not. */
export function idleMinutesProblem(value: string): string | undefined {
  const minutes = Number(value);
  if (value.trim() === '' || !Number.isInteger(minutes) || minutes < IDLE_MINUTES_MIN || minutes > IDLE_MINUTES_MAX)
    return `Give a whole number of minutes from ${IDLE_MINUTES_MIN} to ${IDLE_MINUTES_MAX}.`;
  return undefined;
}

/**
 * Watches for activity and calls `onIdle` once the page has been idle `minutes`; answers the
 * seconds left while the warning should show.
 */
function useIdle(minutes: number, onIdle: () => void): { secondsLeft: number | undefined; stay: () => void } {
  const last = useRef(Date.now());
  const idleRef = useRef(onIdle);
  idleRef.current = onIdle;
  const [secondsLeft, setSecondsLeft] = useState<number>();
  const limit = minutes * 60_000;

  useEffect(() => {
    last.current = Date.now();
    const active = () => {
      last.current = Date.now();
    };
    for (const name of ACTIVITY_EVENTS) window.addEventListener(name, active, { capture: true, passive: true });
    const timer = window.setInterval(() => {
      const left = limit - (Date.now() - last.current);
      if (left <= 0) {
        window.clearInterval(timer);
        idleRef.current();
        return;
      }
      setSecondsLeft(left <= Math.min(WARNING_MS, limit / 2) ? Math.ceil(left / 1000) : undefined);
    }, 1000);
    return () => {
      window.clearInterval(timer);
      for (const name of ACTIVITY_EVENTS) window.removeEventListener(name, active, { capture: true });
    };
  }, [limit]);

  return {
    secondsLeft,
    stay: () => {
      last.current = Date.now();
      setSecondsLeft(undefined);
    },
  };
}

/** Signs out after `minutes` without activity, warning first. Renders the warning only. */
export function IdleSignOut({ minutes, onIdle }: { minutes: number; onIdle: () => void }): ReactElement | null {
  const { secondsLeft, stay } = useIdle(minutes, onIdle);
  if (secondsLeft === undefined) return null;
  return (
    <Dialog title="Still there?" onClose={stay}>
      <p role="timer" aria-live="off">
        Without activity, you will be signed out in {secondsLeft} second{secondsLeft === 1 ? '' : 's'} and the credentials dropped from this tab.
      </p>
      <div className="dialog-actions">
        <button type="button" className="button-primary" onClick={stay} data-autofocus>
          Stay signed in
        </button>
      </div>
    </Dialog>
  );
}
