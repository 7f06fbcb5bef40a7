-- Each worker replica runs its own embedded Qdrant, but knowledge-sync runs on one replica per
-- tick (lock:knowledge-sync), so only that replica's Qdrant would see the new points. The
-- embedding is kept beside its sync state, and every replica copies what its own Qdrant lacks
-- from here (src/knowledge/vector-copy.ts) without asking OpenAI again. Rows synced before this
-- migration have no vector and are embedded once more by the next tick.
ALTER TABLE knowledge_vectors ADD COLUMN vector real[];
