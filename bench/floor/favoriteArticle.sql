-- Floor for favoriteArticle (bench/writes/favoriteArticle.graphql): every
-- statement the server sends PostgreSQL for one, as
-- tests/api/snapshots/sql_statements@postgres.snap lists them (its event's
-- NOTIFY among them), with the BEGIN and COMMIT that sqlx sends around
-- them. A random user favorites a random article: one of the seed's 300,000
-- favorites or an earlier run's is hit about once in 1,500, where the
-- server would skip the counter and the outbox row; this floor does not.
\set uid random(1, :users)
\set aid random(1, :articles)
BEGIN;
SELECT "users"."id", "users"."username", "users"."username_key", "users"."email", "users"."password_hash", "users"."bio", "users"."image", "users"."followers_count", "users"."following_count", "users"."created_at", "users"."updated_at", "users"."email_notifications" FROM "users" WHERE "users"."id" = :uid LIMIT 1;
SELECT a.id, a.slug, a.title, a.description, a.author_id, a.favorites_count, a.comments_count, a.created_at, a.updated_at, a.tag_list FROM articles a WHERE a.slug = (SELECT slug FROM articles WHERE id = :aid) FOR UPDATE;
INSERT INTO favorites (user_id, article_id, created_at) VALUES (:uid, :aid, now()) ON CONFLICT DO NOTHING;
UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = :aid;
INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES ('NotifyFavorite', '{"kind":"NotifyFavorite","user_id":' || :uid::text || ',"article_id":' || :aid::text || '}', 0, now(), now());
SELECT pg_notify('conduit_events', '{"type":"JobsQueued"}');
COMMIT;
