/**
 * Cancelling a request in flight. An AbortController costs about 4 µs to make and more to listen
 * to; a proxy made two per request (the client's and the attempt's), a measurable share of its
 * time. `Cancel` does the same job for the hot path; an AbortSignal fits the same interface, and
 * `toAbortSignal` bridges to APIs that insist on the real thing (node:http, timers).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancel implements CancelSignal {
  aborted = false;
  /** Read by undici when it is cancelled, as it would read an AbortSignal's. */
  reason: Error | undefined;
  #listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.#listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.#listeners!.splice(i, 1);
  }

  /** Cancels that follow this one (a request's attempts): aborted with it, without a closure each. */
  #children: Cancel[] | undefined;

  link(child: Cancel): void {
    if (this.aborted) child.abort(this.reason);
    else (this.#children ??= []).push(child);
  }

  unlink(child: Cancel): void {
    const i = this.#children?.indexOf(child) ?? -1;
    if (i >= 0) this.#children!.splice(i, 1);
  }

  #bound: (() => void) | undefined;

  /** `abort` bound to this Cancel, for an AbortSignal to call (made when first asked for). */
  get abortNow(): () => void {
    return (this.#bound ??= () => this.abort());
  }

  /** Listeners run once, in the order they were added; then the linked Cancels. */
  abort(reason?: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? abortError();
    const listeners = this.#listeners ?? [];
    this.#listeners = undefined;
    for (const l of listeners) l();
    const children = this.#children ?? [];
    this.#children = undefined;
    for (const c of children) c.abort(this.reason);
  }
}

/** `child` aborted with `parent` (linked without a closure when the parent is a Cancel). */
export function follow(parent: CancelSignal | undefined, child: Cancel): void {
  if (parent instanceof Cancel) parent.link(child);
  else parent?.addEventListener('abort', child.abortNow, { once: true });
}

/** Undoes `follow`. */
export function unfollow(parent: CancelSignal | undefined, child: Cancel): void {
  if (parent instanceof Cancel) parent.unlink(child);
  else parent?.removeEventListener('abort', child.abortNow);
}

/** The error an abort without a reason carries, as AbortController's would read. */
export function abortError(): Error {
  return Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
}

/** An AbortSignal that follows `s` (itself, if it is one). */
export function toAbortSignal(s: CancelSignal): AbortSignal {
  if (s instanceof AbortSignal) return s;
  const controller = new AbortController();
  if (s.aborted) controller.abort();
  else s.addEventListener('abort', () => controller.abort(), { once: true });
  return controller.signal;
}
