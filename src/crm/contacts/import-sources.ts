import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import type { SourceLine } from './contact-import';

/**
 * The longest line (NDJSON) or record (CSV) read, in characters: a contact with its largest
 * attributes is well under it, and a body without newlines cannot make the worker hold it all.
 */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * NDJSON lines of a stream, one parsed JSON value each. The body is pulled chunk by chunk, and
 * only as fast as the consumer asks for lines, so the request is never buffered whole. Blank
 * lines are skipped but counted, so numbers match the caller's file.
 */
export async function* ndjsonLines(body: Readable): AsyncGenerator<SourceLine> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let tooLong = false;
  let line = 0;
  const finish = (text: string): SourceLine | undefined => {
    line++;
    if (tooLong) {
      tooLong = false;
      return { line, error: { field: 'line', message: `is longer than ${MAX_LINE_CHARS} characters` } };
    }
    const trimmed = text.trim();
    if (trimmed === '') return undefined;
    try {
      return { line, value: JSON.parse(trimmed) };
    } catch (err) {
      return { line, error: { field: 'line', message: `is not valid JSON (${(err as Error).message})` } };
    }
  };
  for await (const chunk of body) {
    const text = partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      const item = finish(l);
      if (item) yield item;
    }
    // Past the limit the rest of the line is dropped, only its end is looked for.
    if (partial.length > MAX_LINE_CHARS) {
      tooLong = true;
      partial = '';
    }
  }
  const last = finish(partial + decoder.end());
  if (last) yield last;
}

/** CSV columns and the contact field each fills; see docs/data-contract.md. */
const CSV_COLUMNS = new Set([
  'id',
  'tenantId',
  'name',
  'email',
  'phone',
  'whatsapp',
  'timezone',
  'tags',
  'attributes',
  'consent.email',
  'consent.sms',
  'consent.whatsapp',
]);

/** A header naming a column crm-worker does not know: the whole import is refused before any row. */
export class CsvHeaderError extends Error {
  constructor(readonly unknownColumns: string[]) {
    super(`unknown column(s) ${unknownColumns.join(', ')}; known: ${[...CSV_COLUMNS].join(', ')}`);
    this.name = 'CsvHeaderError';
  }
}

/**
 * CSV records of a stream (csv-parse, streaming), the first line a header of field names. A
 * record csv-parse cannot read (an unclosed quote, a wrong number of cells) is reported by its
 * line and the parser goes on with the next one. Empty cells are absent fields; `tags` is
 * separated by `;`, `attributes` is JSON, `consent.<channel>` is true/false.
 */
export async function* csvLines(body: Readable): AsyncGenerator<SourceLine> {
  const parser = parseCsv({
    bom: true,
    columns: (header: string[]) => {
      const unknown = header.filter((h) => !CSV_COLUMNS.has(h.trim()));
      if (unknown.length > 0) throw new CsvHeaderError(unknown);
      return header.map((h) => h.trim());
    },
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_LINE_CHARS,
    info: true,
  });
  const skipped: SourceLine[] = [];
  parser.on('skip', (err: Error & { lines?: number }) => {
    skipped.push({ line: err.lines ?? 0, error: { field: 'line', message: err.message } });
  });
  body.on('error', (err) => parser.destroy(err));
  body.pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      while (skipped.length > 0) yield skipped.shift()!;
      yield csvRecordToLine(record, info.lines);
    }
  } catch (err) {
    // csv-parse wraps what the columns callback throws; the header error is the caller's.
    const cause = (err as { cause?: unknown }).cause ?? err;
    throw cause instanceof CsvHeaderError ? cause : err;
  } finally {
    body.unpipe(parser);
  }
  while (skipped.length > 0) yield skipped.shift()!;
}

function csvRecordToLine(record: Record<string, string>, line: number): SourceLine {
  const value: Record<string, unknown> = {};
  const consent: Record<string, unknown> = {};
  for (const [column, cell] of Object.entries(record)) {
    const text = cell.trim();
    if (text === '') continue;
    if (column === 'tags')
      value.tags = text
        .split(';')
        .map((t) => t.trim())
        .filter((t) => t !== '');
    else if (column === 'attributes') {
      try {
        value.attributes = JSON.parse(text);
      } catch {
        return { line, error: { field: 'attributes', message: 'must be a JSON object such as {"plan":"gold"}' } };
      }
    } else if (column.startsWith('consent.')) consent[column.slice('consent.'.length)] = toBoolean(text);
    else value[column] = text;
  }
  if (Object.keys(consent).length > 0) value.consent = consent;
  return { line, value };
}

/** true/false (also yes/no, 1/0); anything else stays text, for the schema to refuse by name. */
function toBoolean(text: string): boolean | string {
  const t = text.toLowerCase();
  if (t === 'true' || t === 'yes' || t === '1') return true;
  if (t === 'false' || t === 'no' || t === '0') return false;
  return text;
}
