/**
 * A server-sent events reader, pure: text in, events out, whatever the chunks' boundaries (a
 * line, a CRLF or a multi-byte character split across reads). Follows the WHATWG rules: lines end
 * in LF, CR or CRLF; a blank line ends an event; `data` lines join with LF; comments (`:`) and
 * unknown fields are skipped; a leading BOM is dropped.
 */
export interface SseEvent {
  /** The `event:` field, when there was one (Anthropic's streams name every event). */
  event?: string;
  data: string;
  id?: string;
}

const NEWLINE = /[\r\n]/g;

export class SseReader {
  #pending = '';
  #started = false;
  /** The last chunk ended with CR: an LF opening the next one belongs to it. */
  #afterCr = false;
  #data: string[] = [];
  #event: string | undefined;
  #id: string | undefined;

  /** Takes the next piece of the stream; returns the events it completed. */
  push(text: string): SseEvent[] {
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    this.#afterCr = false;
    const events: SseEvent[] = [];
    const all = this.#pending + text;
    let start = 0;
    NEWLINE.lastIndex = this.#pending.length;
    for (let m = NEWLINE.exec(all); m; m = NEWLINE.exec(all)) {
      const i = m.index;
      this.#line(all.slice(start, i), events);
      start = i + 1;
      if (all.charCodeAt(i) === 13) {
        if (start === all.length) this.#afterCr = true;
        else if (all.charCodeAt(start) === 10) start++;
      }
      NEWLINE.lastIndex = start;
    }
    this.#pending = all.slice(start);
    return events;
  }

  /** The stream ended: a last line without its newline, and an event without its blank line, still count. */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.#pending) this.#line(this.#pending, events);
    this.#pending = '';
    this.#dispatch(events);
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') return this.#dispatch(events);
    if (line.charCodeAt(0) === 58) return; // ':' a comment (a keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id') this.#id = value;
  }

  #dispatch(events: SseEvent[]): void {
    if (this.#data.length > 0) {
      const e: SseEvent = { data: this.#data.join('\n') };
      if (this.#event !== undefined) e.event = this.#event;
      if (this.#id !== undefined) e.id = this.#id;
      events.push(e);
    }
    this.#data = [];
    this.#event = undefined;
  }
}
