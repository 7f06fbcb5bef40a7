import OpenAI from 'openai';

export interface Embedder {
  readonly model: string;
  /** One vector per input, in input order. */
  embed(texts: string[], signal: AbortSignal): Promise<number[][]>;
}

/** Embeddings through the official openai client (OPENAI_BASE_URL points it elsewhere in tests). */
export function createOpenAiEmbedder(options: { apiKey: string; baseUrl: string | undefined; model: string; dimensions: number; timeoutMs: number }): Embedder {
  const client = new OpenAI({
    apiKey: options.apiKey,
    ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
    timeout: options.timeoutMs,
    maxRetries: 2,
  });
  return {
    model: options.model,
    async embed(texts, signal) {
      const response = await client.embeddings.create({ model: options.model, input: texts }, { signal });
      const vectors = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      if (vectors.length !== texts.length) {
        throw new Error(`embeddings API returned ${vectors.length} vectors for ${texts.length} inputs`);
      }
      for (const v of vectors) {
        if (v.length !== options.dimensions) {
          throw new Error(`embedding has ${v.length} dimensions; EMBEDDING_DIMENSIONS is ${options.dimensions}`);
        }
      }
      return vectors;
    },
  };
}
