import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/database';
import { fieldProblems, parseOrThrow, problemOf, ProblemError, sendProblem, type FieldProblem } from '../../http/problem';
import { takesNoBody } from '../../http/request-guard';
import { importContacts, type SourceLine } from './contact-import';
import { contactFields, contactWithId, entityId, toContactInput, type ContactInput } from './contact-schema';
import { deleteContact, getContact, upsertContacts, type UpsertOutcome } from './contact-store';
import { contactView } from './contact-view';
import { CsvHeaderError, csvLines, ndjsonLines } from './import-sources';

/** Items per POST /v1/contacts/batch; more goes through the streaming import. */
export const MAX_BATCH_ITEMS = 1_000;

const batchBody = z.strictObject({
  contacts: z
    .array(z.unknown(), { message: 'must be a list of contacts' })
    .min(1, { message: 'must not be empty' })
    .max(MAX_BATCH_ITEMS, {
      message: `must hold at most ${MAX_BATCH_ITEMS} contacts; send more through POST /api/v1/contacts/import`,
    }),
});

const REFUSED: Partial<Record<UpsertOutcome, { kind: 'invalid-input' | 'conflict'; problem: FieldProblem }>> = {
  'unknown-tenant': { kind: 'invalid-input', problem: { field: 'tenantId', message: 'unknown tenant: PUT /api/v1/tenants/:id first' } },
  'other-tenant': { kind: 'conflict', problem: { field: 'tenantId', message: 'the contact belongs to another tenant; contacts do not move between tenants' } },
};

type BatchResult =
  { index: number; id: string; outcome: 'created' | 'updated' | 'unchanged' } | { index: number; id?: string; outcome: 'failed'; errors: FieldProblem[] };

/**
 * The CRM's writes of contacts under /v1: PUT (idempotent upsert), GET, DELETE (cancels the
 * contact's open messages), a batch with a result per item, and the streaming bulk import.
 */
export function contactRoutes(deps: { db: Database; importChunkSize?: number }): Router {
  const { db } = deps;
  const router = Router();

  router.put('/v1/contacts/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const input = toContactInput(id, parseOrThrow(contactFields, req.body ?? {}));
    const outcome = (await upsertContacts(db, [input])).get(id)!;
    const refused = REFUSED[outcome];
    if (refused) throw new ProblemError(refused.kind, `${refused.problem.field}: ${refused.problem.message}`, [refused.problem]);
    res.status(outcome === 'created' ? 201 : 200).json({ ...contactView((await getContact(db, id))!), outcome });
  });

  router.get('/v1/contacts/:id', async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const contact = await getContact(db, id);
    if (!contact) throw new ProblemError('not-found', `contact ${id} not found`);
    res.json(contactView(contact));
  });

  router.delete('/v1/contacts/:id', takesNoBody(), async (req, res) => {
    const id = parseOrThrow(entityId, req.params.id, 'id');
    const deleted = await deleteContact(db, id);
    if (!deleted) throw new ProblemError('not-found', `contact ${id} not found`);
    res.json({ id, deleted: true, messagesCancelled: deleted.messagesCancelled, callsCancelled: deleted.callsCancelled });
  });

  // Per item, not all-or-nothing: a CRM syncing 1,000 contacts should not lose 999 to one bad
  // address. Valid items are written in one statement; each item says what happened to it.
  router.post('/v1/contacts/batch', async (req, res) => {
    const body = parseOrThrow(batchBody, req.body ?? {});
    const results: BatchResult[] = [];
    const valid: { index: number; input: ContactInput }[] = [];
    const seen = new Map<string, number>();
    body.contacts.forEach((item, index) => {
      const parsed = contactWithId.safeParse(item);
      if (!parsed.success) return void results.push({ index, outcome: 'failed', errors: fieldProblems(parsed.error, `contacts[${index}]`) });
      const { id, ...fields } = parsed.data;
      const first = seen.get(id);
      if (first !== undefined) {
        return void results.push({ index, id, outcome: 'failed', errors: [{ field: `contacts[${index}].id`, message: `repeats contacts[${first}].id` }] });
      }
      seen.set(id, index);
      valid.push({ index, input: toContactInput(id, fields) });
    });
    const outcomes = await upsertContacts(
      db,
      valid.map((v) => v.input),
    );
    for (const { index, input } of valid) {
      const outcome = outcomes.get(input.id)!;
      const refused = REFUSED[outcome];
      if (refused)
        results.push({ index, id: input.id, outcome: 'failed', errors: [{ ...refused.problem, field: `contacts[${index}].${refused.problem.field}` }] });
      else results.push({ index, id: input.id, outcome: outcome as 'created' | 'updated' | 'unchanged' });
    }
    results.sort((a, b) => a.index - b.index);
    const count = (o: BatchResult['outcome']) => results.filter((r) => r.outcome === o).length;
    res.json({ created: count('created'), updated: count('updated'), unchanged: count('unchanged'), failed: count('failed'), results });
  });

  router.post('/v1/contacts/import', async (req, res) => {
    const source = importSource(req);
    if (!source) return refuseUnreadBody(req, res);
    try {
      res.json(await importContacts(db, source, { chunkSize: deps.importChunkSize ?? 1_000 }));
    } catch (err) {
      if (err instanceof CsvHeaderError) {
        throw new ProblemError(
          'invalid-input',
          `header: ${err.message}`,
          err.unknownColumns.map((c) => ({ field: `header.${c}`, message: 'is not a known column' })),
        );
      }
      throw err;
    }
  });

  return router;
}

function importSource(req: Request): AsyncIterable<SourceLine> | undefined {
  if (req.is(['application/x-ndjson', 'application/jsonl'])) return ndjsonLines(req);
  if (req.is('text/csv')) return csvLines(req);
  return undefined;
}

/**
 * 415 for an import in another type. The body is read away first (and dropped): answering with
 * request bytes unread makes the kernel reset the socket, and the caller would see ECONNRESET.
 */
function refuseUnreadBody(req: Request, res: Response): void {
  const answer = () => {
    const detail = 'send the contacts as application/x-ndjson (one JSON object a line) or text/csv (a header line first)';
    sendProblem(res, problemOf('unsupported-media-type', detail, [{ field: 'content-type', message: detail }]));
  };
  if (req.readableEnded || req.body !== undefined) return answer();
  req.once('end', answer);
  req.resume();
}
