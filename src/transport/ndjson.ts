/**
 * A newline-delimited JSON reader (Ollama's streams), pure: text in, one event per line out,
 * whatever the chunks' boundaries; blank lines and a CR before the LF are dropped. Its events have
 * the SSE reader's shape (`data`: the line), so one stream reader serves both.
 */
import type { SseEvent } from './sse.js';

export class NdjsonReader {
  #pending = '';

  push(text: string): SseEvent[] {
    this.#pending += text;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.#pending.indexOf('\n')) !== -1) {
      const line = this.#pending.slice(0, nl).replace(/\r$/, '');
      this.#pending = this.#pending.slice(nl + 1);
      if (line.trim()) out.push({ data: line });
    }
    return out;
  }

  /** A last line without its newline. */
  end(): SseEvent[] {
    const line = this.#pending.trim();
    this.#pending = '';
    return line ? [{ data: line }] : [];
  }
}
