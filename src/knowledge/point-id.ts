import { createHash } from 'node:crypto';

/** RFC 4122 URL namespace; any fixed namespace works, this one is standard. */
const NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/**
 * The Qdrant point id of a knowledge document: a name-based (version 5) UUID of its id, so the
 * same document always maps to the same point (upserts replace, deletes find it) on every
 * replica and after every restart. Qdrant accepts only unsigned integers or UUIDs as ids.
 */
export function pointIdFor(documentId: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(documentId, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
