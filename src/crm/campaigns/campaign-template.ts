import { TemplateRenderError, type TemplateEngine } from '../../templates/template-engine';
import { ValidationError, type FieldIssue } from '../../delivery/validation-error';

/** The variables every campaign message carries (see campaign-batch.ts), with sample values. */
const SAMPLE = {
  contact: { id: 'c-1', name: 'Ada', email: 'ada@example.com', phone: '+14155550123' },
  campaign: { id: 'k-1', name: 'Sample' },
};

/**
 * Campaign messages are inserted in bulk from SQL, so the delivery engine's per-request template
 * check runs here once, when the campaign is created: syntax errors and unknown variables are
 * refused with the field named. Contact attributes (contact.<attribute>) vary per contact and
 * cannot be checked up front; a contact lacking one fails that one message at send time.
 */
export function validateCampaignTemplate(templates: TemplateEngine, fields: { template: string; subject?: string | undefined }): void {
  const issues: FieldIssue[] = [];
  for (const [field, text] of [
    ['template', fields.template],
    ['subject', fields.subject],
  ] as const) {
    if (text === undefined) continue;
    try {
      templates.render(text, SAMPLE);
    } catch (err) {
      if (!(err instanceof TemplateRenderError)) throw err;
      const problem = err.problem;
      if (problem.field.startsWith('variables.contact.') && !Object.hasOwn(SAMPLE.contact, problem.field.split('.')[2]!)) continue;
      issues.push({ field: problem.field === 'template' ? field : `${field} (${problem.field})`, message: problem.message });
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
}
