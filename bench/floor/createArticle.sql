-- Floor for createArticle (bench/writes/createArticle.graphql): every
-- statement the server sends PostgreSQL for one, as
-- tests/api/snapshots/sql_statements@postgres.snap lists them (its events'
-- NOTIFY among them), with the BEGIN and COMMIT that sqlx sends around
-- them. A random user publishes an article titled after the run, the client and a
-- counter (pgbench keeps :k per client), so every slug is new; its two
-- tags exist after the first.
\set uid random(1, :users)
\set k :k + 1
BEGIN;
SELECT "users"."id", "users"."username", "users"."username_key", "users"."email", "users"."password_hash", "users"."bio", "users"."image", "users"."followers_count", "users"."following_count", "users"."created_at", "users"."updated_at", "users"."email_notifications" FROM "users" WHERE "users"."id" = :uid LIMIT 1;
SELECT id FROM articles WHERE slug = 'write-benchmark-' || :run::text || '-' || :client_id::text || '-' || :k::text;
INSERT INTO "articles" ("slug", "title", "description", "body", "author_id", "favorites_count", "comments_count", "created_at", "updated_at", "tag_list") VALUES ('write-benchmark-' || :run::text || '-' || :client_id::text || '-' || :k::text, 'Write benchmark ' || :run::text || ' ' || :client_id::text || ' ' || :k::text, 'A benchmark article', 'Written by the write benchmark.', :uid, 0, 0, now(), now(), '["benchmark","writes"]') RETURNING "id", "slug", "title", "description", "body", "author_id", "favorites_count", "comments_count", "created_at", "updated_at", "tag_list";
INSERT INTO outbox (kind, payload, attempts, run_at, created_at) VALUES ('FanOutNewArticle', '{"kind":"FanOutNewArticle","article_id":' || currval(pg_get_serial_sequence('articles', 'id')) || ',"after_follower":0}', 0, now(), now());
INSERT INTO tags (name, articles_count) VALUES ('benchmark', 0), ('writes', 0) ON CONFLICT (name) DO NOTHING;
SELECT id, name FROM tags WHERE name IN ('benchmark', 'writes');
INSERT INTO article_tags (article_id, tag_id, position) VALUES (currval(pg_get_serial_sequence('articles', 'id')), (SELECT id FROM tags WHERE name = 'benchmark'), 0), (currval(pg_get_serial_sequence('articles', 'id')), (SELECT id FROM tags WHERE name = 'writes'), 1);
UPDATE tags SET articles_count = articles_count + 1 WHERE id = ANY(ARRAY(SELECT id FROM tags WHERE name IN ('benchmark', 'writes')));
UPDATE totals SET value = value + 1 WHERE name = 'articles';
SELECT pg_notify('conduit_events', '{"type":"ArticlePublished","article_id":' || currval(pg_get_serial_sequence('articles', 'id')) || ',"author_id":' || :uid::text || ',"tags":["benchmark","writes"]}'), pg_notify('conduit_events', '{"type":"JobsQueued"}');
COMMIT;
