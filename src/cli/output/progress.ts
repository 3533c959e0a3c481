/**
 * Progress for long work. On a terminal one status line is redrawn in place, with the elapsed time; elsewhere
 * (CI logs, pipes) a line is printed when a step starts or finishes and at most every 15 seconds in between.
 */

export interface ProgressLine {
  /** Replaces the transient status line. */
  update(text: string): void;
  /** Prints a permanent line (above the status line on a terminal). */
  log(text: string): void;
  /** Removes the status line. */
  done(): void;
}

export function progressLine(stream: NodeJS.WriteStream, started = Date.now()): ProgressLine {
  const tty = stream.isTTY === true;
  let current = "";
  let lastPrinted = 0;
  let lastText = "";
  const elapsed = () => {
    const s = Math.round((Date.now() - started) / 1000);
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
  };
  const draw = () => {
    if (!tty || !current) return;
    const width = (stream.columns || 100) - 1;
    stream.write(`\r\x1b[2K${`[${elapsed()}] ${current}`.slice(0, width)}`);
  };
  const timer = tty ? setInterval(draw, 1000) : undefined;
  timer?.unref();
  return {
    update(text) {
      current = text;
      if (tty) draw();
      else if (Date.now() - lastPrinted > 15_000 && text !== lastText) {
        stream.write(`[${elapsed()}] ${text}\n`);
        lastPrinted = Date.now();
        lastText = text;
      }
    },
    log(text) {
      if (tty) stream.write("\r\x1b[2K");
      stream.write(`${text}\n`);
      lastPrinted = Date.now();
      draw();
    },
    done() {
      if (timer) clearInterval(timer);
      if (tty && current) stream.write("\r\x1b[2K");
      current = "";
    },
  };
}
