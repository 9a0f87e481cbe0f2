-- The agents' serving index (projections/serving_index.py) is a SQLite copy of
-- the timeline and the merges, written beside these tables by the projector.
-- This table holds the one generation of index that mirrors the tables now.
-- Whatever changes the tables without the index (a replay's swap, a projector
-- run without it, a bulk load) empties it, and the service rebuilds the index
-- before reading from it again.
CREATE TABLE IF NOT EXISTS serving_index_marks
(
    generation String,
    marked_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY tuple();
