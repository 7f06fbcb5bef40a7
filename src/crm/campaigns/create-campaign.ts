import type { Queryable } from '../../db/database';
import type { TemplateEngine } from '../../templates/template-engine';
import { NotFoundError, type FieldProblem } from '../../errors/caller-error';
import { getList } from '../lists/list-store';
import { getSegment } from '../segments/segment-store';
import { insertCampaign, type CampaignRow } from './campaign-store';
import type { CampaignFields } from './campaign-schema';
import { validateCampaignTemplate } from './campaign-template';

/**
 * Creates a campaign once its template renders (a bad one throws ValidationError naming the
 * field) and its audience is a list or segment of the same tenant; one that is not is a
 * NotFoundError naming listId or segmentId.
 */
export async function createCampaign(db: Queryable, templates: TemplateEngine, body: CampaignFields): Promise<CampaignRow> {
  validateCampaignTemplate(templates, body);
  if (body.listId !== undefined) {
    const list = await getList(db, body.listId);
    if (list?.tenant_id !== body.tenantId) throw unknown({ field: 'listId', message: `list ${body.listId} not found for tenant` });
  } else {
    const segment = await getSegment(db, body.segmentId!);
    if (segment?.tenant_id !== body.tenantId) throw unknown({ field: 'segmentId', message: `segment ${body.segmentId} not found for tenant` });
  }
  return insertCampaign(db, body);
}

const unknown = (problem: FieldProblem) => new NotFoundError(`${problem.field}: ${problem.message}`, [problem]);
