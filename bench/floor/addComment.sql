-- Floor for addComment (bench/writes/addComment.graphql): every statement
-- the server sends PostgreSQL for one, as
-- tests/api/snapshots/sql_statements@postgres.snap lists them (its events'
-- NOTIFY among them), with the BEGIN and COMMIT that sqlx sends around
-- them, which the snapshot cannot see. A random user comments on a random
-- article (bench/writes.sh passes -D users=... -D articles=...); its slug
-- is looked up inside the statement that takes it, so the floor makes no
-- round trip the server does not.
\set uid random(1, :users)
\set aid random(1, :articles)
BEGIN;
SELECT "users"."id", "users"."username", "users"."username_key", "users"."email", "users"."password_hash", "users"."bio", "users"."image", "users"."followers_count", "users"."following_count", "users"."created_at", "users"."updated_at", "users"."email_notifications" FROM "users" WHERE "users"."id" = :uid LIMIT 1;
SELECT a.id, a.slug, a.title, a.description, a.author_id, a.favorites_count, a.comments_count, a.created_at, a.updated_at, a.tag_list FROM articles a WHERE a.slug = (SELECT slug FROM articles WHERE id = :aid) FOR UPDATE;
INSERT INTO "comments" ("article_id", "author_id", "body", "created_at", "updated_at") VALUES (:aid, :uid, 'A benchmark comment', now(), now()) RETURNING "id", "article_id", "author_id", "body", "created_at", "updated_at";
UPDATE articles SET comments_count = comments_count + 1 WHERE id = :aid;
INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES ('NotifyComment', '{"kind":"NotifyComment","comment_id":' || currval(pg_get_serial_sequence('comments', 'id')) || '}', 0, now(), now());
SELECT pg_notify('conduit_events', '{"type":"CommentAdded","comment_id":' || currval(pg_get_serial_sequence('comments', 'id')) || ',"article_id":' || :aid::text || '}'), pg_notify('conduit_events', '{"type":"JobsQueued"}');
COMMIT;
