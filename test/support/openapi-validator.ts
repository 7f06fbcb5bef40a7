import Ajv2020 from 'ajv/dist/2020';

type Doc = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};

/**
 * Checks real answers against the OpenAPI document the worker serves: the status must be one the
 * operation documents, the media type the documented one, and the body must match its schema.
 * Throws naming the operation and what differs.
 */
export function createResponseValidator(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'components', ...doc.components } as object);
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      op,
    })),
  );
  const compiled = new Map<unknown, ReturnType<Ajv2020['compile']>>();
  // Refs point into the document's components; the validator holds them under $id "components".
  const resolveRefs = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"components#/'));

  return {
    /** `path` is under /api, without the query: /v1/contacts/c1. */
    check(method: string, path: string, status: number, contentType: string, body: unknown): void {
      const found = operations.find((o) => o.method === method.toUpperCase() && o.pattern.test(path));
      if (!found) throw new Error(`${method} ${path}: not in the OpenAPI document`);
      const response = found.op.responses[String(status)];
      if (!response) throw new Error(`${method} ${found.path}: status ${status} is not documented`);
      if (!response.content) return;
      const type = contentType.split(';')[0]!.trim();
      const media = response.content[type];
      if (!media) throw new Error(`${method} ${found.path} ${status}: content type ${type} is not documented (${Object.keys(response.content).join(', ')})`);
      let validate = compiled.get(media.schema);
      if (!validate) {
        validate = ajv.compile(resolveRefs(media.schema) as object);
        compiled.set(media.schema, validate);
      }
      if (!validate(body)) {
        throw new Error(
          `${method} ${found.path} ${status}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
        );
      }
    },
  };
}
