//! Demo data: `conduit-gateway seed` fills a fresh database with the
//! benchmark-sized set, `serve --demo` fills an empty one with a small set.
//!
//! The data is deterministic (same seed and sizes, same rows, on SQLite and
//! PostgreSQL alike), skewed like a real site (a few authors, articles and
//! tags get most of the attention), and consistent: every counter column
//! equals what it counts. Every demo user's password is [`DEMO_PASSWORD`].

mod plan;
mod text;
mod write;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

use crate::auth::password;
use crate::config::SeedArgs;
use crate::db;

/// The password of every seeded user: demo data is for signing in as anyone.
pub const DEMO_PASSWORD: &str = "password";

/// The seed `serve --demo` uses.
pub const DEMO_SEED: u64 = 42;

/// How many rows of each kind to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub users: usize,
    pub articles: usize,
    pub comments: usize,
    pub favorites: usize,
    pub follows: usize,
    pub tags: usize,
}

impl Sizes {
    /// What `seed` makes by default: big enough to show slow queries.
    pub const BENCHMARK: Sizes = Sizes {
        users: 10_000,
        articles: 50_000,
        comments: 500_000,
        favorites: 300_000,
        follows: 200_000,
        tags: 200,
    };

    /// What `serve --demo` makes: enough to click around in.
    pub const DEMO: Sizes = Sizes {
        users: 50,
        articles: 200,
        comments: 1_000,
        favorites: 600,
        follows: 400,
        tags: 30,
    };

    /// Whether these sizes can be made at all.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.articles > 0 && self.users == 0 {
            anyhow::bail!("articles need authors: --users must be at least 1");
        }
        if self.articles > 0 && self.tags == 0 {
            anyhow::bail!("every article has 1 to 5 tags: --tags must be at least 1");
        }
        if self.comments > 0 && self.articles == 0 {
            anyhow::bail!("comments need articles: --articles must be at least 1");
        }
        let favorites = plan::max_pairs(self.users, self.articles, false);
        if self.favorites > favorites {
            anyhow::bail!(
                "--favorites {} is more than the {favorites} distinct pairs of {} users and {} articles",
                self.favorites,
                self.users,
                self.articles
            );
        }
        let follows = plan::max_pairs(self.users, self.users, true);
        if self.follows > follows {
            anyhow::bail!(
                "--follows {} is more than the {follows} pairs of different users {} users make",
                self.follows,
                self.users
            );
        }
        // Ids go through u32 indices in the plan.
        if [self.users, self.articles, self.tags]
            .iter()
            .any(|&n| n > u32::MAX as usize)
        {
            anyhow::bail!("too many rows for one seed");
        }
        Ok(())
    }

    fn total_rows(&self) -> u64 {
        [
            self.users,
            self.articles,
            self.comments,
            self.favorites,
            self.follows,
            self.tags,
        ]
        .iter()
        .map(|&n| n as u64)
        .sum()
    }
}

impl TryFrom<&SeedArgs> for Sizes {
    type Error = anyhow::Error;

    fn try_from(args: &SeedArgs) -> anyhow::Result<Self> {
        let size = |n: u64| usize::try_from(n).context("a size does not fit this machine");
        let sizes = Sizes {
            users: size(args.users)?,
            articles: size(args.articles)?,
            comments: size(args.comments)?,
            favorites: size(args.favorites)?,
            follows: size(args.follows)?,
            tags: size(args.tags)?,
        };
        sizes.check()?;
        Ok(sizes)
    }
}

/// What a seed wrote.
#[derive(Clone, Debug)]
pub struct Summary {
    pub sizes: Sizes,
    pub article_tags: usize,
    /// Sign in as `<username>@example.com` with [`DEMO_PASSWORD`].
    pub first_username: Option<String>,
    pub elapsed: Duration,
}

/// `conduit-gateway seed`: migrates, seeds, prints what it wrote.
pub async fn command(args: SeedArgs) -> anyhow::Result<()> {
    let sizes = Sizes::try_from(&args)?;
    let conn = db::connect(&args.database).await?;
    db::migrate(&conn).await?;
    let summary = seed(&conn, &sizes, args.seed, true).await?;
    conn.close().await.ok();

    let s = &summary.sizes;
    println!(
        "seeded {} in {:.1} s (seed {}):",
        db::redact(&args.database.database_url),
        summary.elapsed.as_secs_f64(),
        args.seed
    );
    for (table, rows) in [
        ("users", s.users),
        ("tags", s.tags),
        ("articles", s.articles),
        ("article_tags", summary.article_tags),
        ("follows", s.follows),
        ("favorites", s.favorites),
        ("comments", s.comments),
    ] {
        println!("  {table:<13}{rows:>10}");
    }
    if let Some(username) = &summary.first_username {
        println!(
            "every user's password is {DEMO_PASSWORD:?}; for example, sign in as {username}@example.com"
        );
    }
    Ok(())
}

/// `serve --demo`: seeds the small set into a database without users, and
/// leaves any other database alone.
pub async fn demo(conn: &DatabaseConnection) -> anyhow::Result<()> {
    if has_users(conn).await? {
        tracing::info!("--demo: the database already has users, so no demo data was added");
        return Ok(());
    }
    let summary = seed(conn, &Sizes::DEMO, DEMO_SEED, false).await?;
    tracing::info!(
        users = summary.sizes.users,
        articles = summary.sizes.articles,
        comments = summary.sizes.comments,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "--demo: filled the empty database with demo data; every demo user's password is {DEMO_PASSWORD:?} (for example {}@example.com)",
        summary.first_username.as_deref().unwrap_or("nobody"),
    );
    Ok(())
}

/// Writes `sizes` worth of rows made from `seed` into an empty database, in
/// one transaction: a seed that fails leaves the database as it was.
///
/// # Errors
/// When the database already has users (it must be fresh: seeded ids start
/// at 1), or on any database error.
pub async fn seed(
    conn: &DatabaseConnection,
    sizes: &Sizes,
    seed: u64,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    sizes.check()?;
    let started = Instant::now();
    // One hash for everyone: argon2 is slow on purpose, and these users
    // all share a password anyway.
    let password_hash = password::hash(DEMO_PASSWORD.to_owned()).await?;
    let plan = plan::plan(&mut rng(seed, 0), sizes);
    let rngs = write::TextRngs {
        users: rng(seed, 1),
        articles: rng(seed, 2),
        comments: rng(seed, 3),
    };
    let article_tags = plan.article_tags();

    let progress = if show_progress {
        ProgressBar::with_draw_target(
            Some(sizes.total_rows() + article_tags as u64),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{wide_bar}] {human_pos}/{human_len} rows, {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );

    // On SQLite, take the write lock up front (see `domain::begin_write`).
    let txn = conn
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .context("cannot start a transaction")?;
    if has_users(&txn).await? {
        anyhow::bail!(
            "the database already has users; seed only fills a fresh, empty database \
             (create a new one, or point --database-url at a new SQLite file)"
        );
    }
    let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
    // SQLite's default page cache (2 MB) spills to the WAL over and over in
    // a transaction this big; a larger one, for this transaction only, cuts
    // the time by a fifth.
    let cache_size = if sqlite {
        let size = number(&txn, "PRAGMA cache_size").await?;
        txn.execute_unprepared("PRAGMA cache_size = -262144")
            .await
            .context("cannot enlarge SQLite's page cache")?;
        Some(size)
    } else {
        None
    };
    let written = write::write(&txn, &plan, rngs, &password_hash, &progress).await?;
    crate::domain::totals::recount_articles(&txn)
        .await
        .context("cannot count the seeded articles")?;
    if let Some(size) = cache_size {
        txn.execute_unprepared(&format!("PRAGMA cache_size = {size}"))
            .await
            .context("cannot restore SQLite's page cache size")?;
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        // Rows came with explicit ids: move each sequence past them, or the
        // app's next insert would collide with a seeded row.
        for table in ["users", "articles", "tags", "comments"] {
            txn.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .await
            .with_context(|| format!("cannot move the {table} id sequence past the seeded rows"))?;
        }
    }
    progress.set_message("committing");
    txn.commit()
        .await
        .context("cannot commit the seeded rows")?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // Fresh statistics, or the planner guesses on tables it thinks
        // empty; and a visibility map, or every COUNT and index-only scan
        // visits the heap (a COUNT(*) of the articles took 98 ms instead of
        // a few on the benchmark data before this).
        progress.set_message("vacuuming");
        conn.execute_unprepared("VACUUM (FREEZE, ANALYZE)")
            .await
            .context("cannot VACUUM the seeded tables")?;
    }
    progress.finish_and_clear();

    Ok(Summary {
        sizes: *sizes,
        article_tags,
        first_username: written.first_username,
        elapsed: started.elapsed(),
    })
}

/// The first column of the first row of `sql`, a number.
async fn number(conn: &impl ConnectionTrait, sql: &str) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .with_context(|| format!("cannot run {sql}"))?
        .with_context(|| format!("{sql} returned no row"))?;
    row.try_get_by_index(0)
        .with_context(|| format!("{sql} did not return a number"))
}

/// Whether the `users` table has a row.
pub async fn has_users(conn: &impl ConnectionTrait) -> anyhow::Result<bool> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT 1 FROM users LIMIT 1",
        ))
        .await
        .context("cannot read the users table")?;
    Ok(!rows.is_empty())
}

/// The random stream `stream` of `seed`: one for the plan, one per kind of
/// text, independent of one another.
fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
