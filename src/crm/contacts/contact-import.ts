import type { Queryable } from '../../db/database';
import { findRequestProblem } from '../../http/request-guard';
import { fieldProblems, type FieldProblem } from '../../http/problem';
import { contactWithId, toContactInput, type ContactInput } from './contact-schema';
import { upsertContacts, type UpsertOutcome } from './contact-store';

/** One line (NDJSON) or record (CSV) of an import, already split from the stream. */
export interface SourceLine {
  /** 1-based line number in the request body. */
  line: number;
  /** The parsed value, or why the line could not even be parsed. */
  value?: unknown;
  error?: FieldProblem;
}

export interface LineError {
  line: number;
  errors: FieldProblem[];
}

/** The answer of POST /api/v1/contacts/import. Counts are of lines; `errors` is capped. */
export interface ImportReport {
  imported: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  /** The first `maxErrors` failed lines, in line order. */
  errors: LineError[];
  /** True when more lines failed than `errors` lists. */
  errorsTruncated: boolean;
}

export interface ImportOptions {
  /** Rows per INSERT statement (and at most this many rows held in memory). */
  chunkSize?: number;
  maxErrors?: number;
}

const OUTCOME_ERRORS: Partial<Record<UpsertOutcome, FieldProblem>> = {
  'unknown-tenant': { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' },
  'other-tenant': { field: 'id', message: 'belongs to a contact of another tenant; contacts do not move between tenants' },
};

/**
 * Imports contacts line by line: each line is validated alone (a bad line is reported by number
 * and the rest go on), valid ones are upserted `chunkSize` at a time in one statement each.
 * Memory is one chunk plus the capped error list, whatever the size of the body. Chunks commit
 * one by one, so a request cut off midway keeps the chunks before it; sending the same body
 * again is safe, since every row is an idempotent upsert.
 */
export async function importContacts(db: Queryable, source: AsyncIterable<SourceLine>, options: ImportOptions = {}): Promise<ImportReport> {
  const chunkSize = options.chunkSize ?? 1_000;
  const maxErrors = options.maxErrors ?? 1_000;
  const report: ImportReport = { imported: 0, created: 0, updated: 0, unchanged: 0, failed: 0, errors: [], errorsTruncated: false };
  const fail = (line: number, errors: FieldProblem[]) => {
    report.failed++;
    if (report.errors.length < maxErrors) report.errors.push({ line, errors });
    else report.errorsTruncated = true;
  };

  // Keyed by contact id: a chunk never holds one id twice (see upsertContacts), so a repeated id
  // flushes the chunk first and the later line wins, as it would line by line.
  let chunk = new Map<string, { line: number; input: ContactInput }>();
  const flush = async () => {
    if (chunk.size === 0) return;
    const pending = [...chunk.values()];
    chunk = new Map();
    const outcomes = await upsertContacts(
      db,
      pending.map((p) => p.input),
    );
    // Refused rows come back out of line order; errors are reported in line order.
    for (const { line, input } of pending) {
      const outcome = outcomes.get(input.id)!;
      const error = OUTCOME_ERRORS[outcome];
      if (error) fail(line, [error]);
      else {
        report.imported++;
        report[outcome as 'created' | 'updated' | 'unchanged']++;
      }
    }
  };

  for await (const item of source) {
    if (item.error) {
      fail(item.line, [item.error]);
      continue;
    }
    const unsafe = findRequestProblem(item.value);
    if (unsafe) {
      fail(item.line, [unsafe]);
      continue;
    }
    const parsed = contactWithId.safeParse(item.value);
    if (!parsed.success) {
      fail(item.line, fieldProblems(parsed.error));
      continue;
    }
    const { id, ...fields } = parsed.data;
    if (chunk.has(id)) await flush();
    chunk.set(id, { line: item.line, input: toContactInput(id, fields) });
    if (chunk.size >= chunkSize) await flush();
  }
  await flush();
  report.errors.sort((a, b) => a.line - b.line);
  return report;
}
