import { Liquid, Tag, type TagToken, type Template, type TopLevelToken } from 'liquidjs';
import type { TemplateLimits } from '../config/config';

export type { TemplateLimits };

/** The defaults of TEMPLATE_PARSE_LIMIT, TEMPLATE_RENDER_LIMIT_MS and TEMPLATE_MEMORY_LIMIT (src/config/schema.ts). */
export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = Object.freeze({
  parseLimit: 100_000,
  renderLimitMs: 500,
  memoryLimit: 2_000_000,
});

/** Why a template could not be rendered, as a closed set (it is a metric label). */
export type TemplateFailureReason = 'syntax' | 'forbidden-tag' | 'missing-variable' | 'limit' | 'error';
export const TEMPLATE_FAILURE_REASONS: readonly TemplateFailureReason[] = ['syntax', 'forbidden-tag', 'missing-variable', 'limit', 'error'];

/** Why a template cannot be rendered: a syntax error, a limit, or the variable path that is missing. */
export interface TemplateProblem {
  /** 'template' for the text itself, or 'variables.<path>' for a missing variable. */
  field: string;
  message: string;
  reason: TemplateFailureReason;
}

export class TemplateRenderError extends Error {
  constructor(readonly problem: TemplateProblem) {
    super(`${problem.field}: ${problem.message}`);
    this.name = 'TemplateRenderError';
  }
}

/** Renders message templates in the sandbox above; one per process, built by the composition root. */
export interface TemplateEngine {
  readonly limits: TemplateLimits;
  /** Renders a template with its variables; throws TemplateRenderError naming the problem. */
  render(text: string, variables: Record<string, unknown>): string;
}

const FILE_TAGS = ['include', 'render', 'layout'] as const;
const FORBIDDEN_TAG = 'is not available: templates cannot load other templates or files';

// Parsing dominates rendering for short messages; bulk schedules reuse a handful of templates.
const MAX_CACHED_TEMPLATES = 500;

/**
 * Message templates are Liquid (liquidjs), written by API callers and tenants, so the engine is a
 * sandbox:
 * - no file system: `include`, `render` and `layout` are refused when the template is parsed, and
 *   the engine's template source is an empty in-memory map (`templates: {}`), so even a tag added
 *   later could not read package.json, dist/ or a tenant's data files;
 * - every parse and render runs under liquidjs's own limits: text length (parseLimit), time
 *   (renderLimit, checked between nodes) and allocation (memoryLimit, charged by ranges, loops'
 *   collections and every string/array filter before it allocates). Liquid has no unbounded loop
 *   without a range or a collection, and both are charged to memoryLimit, so the time between two
 *   renderLimit checks is bounded too.
 * strictVariables makes a missing variable an error instead of an empty string, so a message that
 * would go out as "Hi ," is refused when it is scheduled, not discovered by the recipient.
 * ownPropertyOnly keeps templates from reaching prototype properties of the variables they are given.
 */
export function createTemplateEngine(limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS): TemplateEngine {
  const engine = new Liquid({
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    // An empty in-memory source: nothing is ever looked up on disk, relative or not.
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    parseLimit: limits.parseLimit,
    renderLimit: limits.renderLimitMs,
    memoryLimit: limits.memoryLimit,
  });
  for (const name of FILE_TAGS) {
    engine.registerTag(
      name,
      class extends Tag {
        constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
          super(token, remain, liquid);
          throw new Error(`the ${name} tag ${FORBIDDEN_TAG}`);
        }
        render(): void {
          throw new Error(`the ${name} tag ${FORBIDDEN_TAG}`);
        }
      },
    );
  }
  const parsedCache = new Map<string, Template[]>();

  function parse(text: string): Template[] {
    const cached = parsedCache.get(text);
    if (cached) return cached;
    const parsed = engine.parse(text);
    if (parsedCache.size >= MAX_CACHED_TEMPLATES) parsedCache.clear();
    parsedCache.set(text, parsed);
    return parsed;
  }

  return {
    limits,
    render(text, variables) {
      let parsed: Template[];
      try {
        parsed = parse(text);
      } catch (err) {
        const message = firstLine(err);
        if (message.includes(FORBIDDEN_TAG)) throw new TemplateRenderError({ field: 'template', message: stripPosition(message), reason: 'forbidden-tag' });
        const limit = limitProblem(message, limits);
        if (limit) throw new TemplateRenderError(limit);
        throw new TemplateRenderError({ field: 'template', message: `not a valid Liquid template (${message})`, reason: 'syntax' });
      }
      try {
        return engine.renderSync(parsed, variables) as string;
      } catch (err) {
        const message = firstLine(err);
        const limit = limitProblem(message, limits);
        if (limit) throw new TemplateRenderError(limit);
        const missing = /undefined variable: ([^,]+)/i.exec(message);
        if (missing?.[1]) {
          const path = missing[1].trim();
          throw new TemplateRenderError({ field: `variables.${path}`, message: `the template uses "${path}", which is missing`, reason: 'missing-variable' });
        }
        throw new TemplateRenderError({ field: 'template', message: `cannot be rendered (${message})`, reason: 'error' });
      }
    },
  };
}

/** liquidjs's Limiter messages, named after the setting an operator would raise. */
function limitProblem(message: string, limits: TemplateLimits): TemplateProblem | undefined {
  if (message.includes('parse length limit exceeded')) {
    return { field: 'template', reason: 'limit', message: `longer than the template parse limit (TEMPLATE_PARSE_LIMIT=${limits.parseLimit} characters)` };
  }
  if (message.includes('template render limit exceeded')) {
    return {
      field: 'template',
      reason: 'limit',
      message: `rendering took longer than the template render limit (TEMPLATE_RENDER_LIMIT_MS=${limits.renderLimitMs})`,
    };
  }
  if (message.includes('memory alloc limit exceeded')) {
    return { field: 'template', reason: 'limit', message: `rendering needs more than the template memory limit (TEMPLATE_MEMORY_LIMIT=${limits.memoryLimit})` };
  }
  return undefined;
}

function stripPosition(message: string): string {
  return message.replace(/, line:\d+, col:\d+$/, '');
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
