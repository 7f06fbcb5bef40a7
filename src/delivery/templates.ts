import { Liquid, type Template } from 'liquidjs';

/**
 * Message templates are Liquid (liquidjs). strictVariables makes a missing variable an error
 * instead of an empty string, so a message that would go out as "Hi ," is refused when it is
 * scheduled, not discovered by the recipient. ownPropertyOnly keeps templates from reaching
 * prototype properties of the variables they are given.
 */
const engine = new Liquid({ strictVariables: true, strictFilters: true, ownPropertyOnly: true });

// Parsing dominates rendering for short messages; bulk schedules reuse a handful of templates.
const parsedCache = new Map<string, Template[]>();
const MAX_CACHED_TEMPLATES = 500;

function parse(text: string): Template[] {
  const cached = parsedCache.get(text);
  if (cached) return cached;
  const parsed = engine.parse(text);
  if (parsedCache.size >= MAX_CACHED_TEMPLATES) parsedCache.clear();
  parsedCache.set(text, parsed);
  return parsed;
}

/** Why a template cannot be rendered: a syntax error, or the variable path that is missing. */
export interface TemplateProblem {
  /** 'template' for syntax errors, or 'variables.<path>' for a missing variable. */
  field: string;
  message: string;
}

/** Renders a template with its variables; throws TemplateRenderError naming the problem. */
export function renderTemplate(text: string, variables: Record<string, unknown>): string {
  let parsed: Template[];
  try {
    parsed = parse(text);
  } catch (err) {
    throw new TemplateRenderError({ field: 'template', message: `not a valid Liquid template (${firstLine(err)})` });
  }
  try {
    return engine.renderSync(parsed, variables) as string;
  } catch (err) {
    const missing = /undefined variable: ([^,]+)/i.exec(firstLine(err));
    if (missing?.[1]) {
      const path = missing[1].trim();
      throw new TemplateRenderError({ field: `variables.${path}`, message: `the template uses "${path}", which is missing` });
    }
    throw new TemplateRenderError({ field: 'template', message: `cannot be rendered (${firstLine(err)})` });
  }
}

export class TemplateRenderError extends Error {
  constructor(readonly problem: TemplateProblem) {
    super(`${problem.field}: ${problem.message}`);
    this.name = 'TemplateRenderError';
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
